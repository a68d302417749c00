'use strict';
// A balancer that hands sockets to workers (the sticky-session pattern). The
// workers never listen(), so Node's cluster does not share a ticket key
// between them: without the cluster key from setupSharedCache, a ticket from
// one worker is refused by the next. Run: node examples/sticky-balancer.js [port]
const cluster = require('node:cluster');
const https = require('node:https');
const net = require('node:net');
const { setupSharedCache, attachSharedCache } = require('..'); // in your app: require('tls-shm-cache')
const { loadCertificate } = require('./certificate');

const port = Number(process.argv[2] ?? 8443);

if (cluster.isPrimary) {
  loadCertificate();
  const shared = setupSharedCache();
  process.on('SIGINT', () => shared.close().then(() => process.exit(0)));
  const workers = [cluster.fork(), cluster.fork()];
  let next = 0;
  // A real sticky balancer would pick by client address; round-robin shows the point.
  const balancer = net.createServer({ pauseOnConnect: true }, (socket) => workers[next++ % workers.length].send('connection', socket));
  // Accept only once every worker has its server attached: a socket sent earlier would be dropped.
  let ready = 0;
  for (const worker of workers) {
    worker.on('message', (message) => {
      if (message === 'ready' && ++ready === workers.length) {
        balancer.listen(port, '127.0.0.1', () => console.log(`balancer listening on ${balancer.address().port}`));
      }
    });
  }
} else {
  const server = https.createServer(loadCertificate(), (req, res) => {
    res.setHeader('x-worker-pid', process.pid);
    res.end(`worker ${process.pid}: ${req.socket.isSessionReused() ? 'resumed' : 'full handshake'}\n`);
  });
  attachSharedCache(server);
  process.on('SIGINT', () => undefined); // the primary stops the workers
  process.on('message', (message, socket) => {
    // Synchronously, before the socket reads: TLS takes its handle over.
    if (message === 'connection' && socket) {
      server.emit('connection', socket);
      socket.resume();
    }
  });
  process.send('ready');
}
