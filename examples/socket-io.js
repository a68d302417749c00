'use strict';
// socket.io over HTTPS on several workers with runCluster(): every client
// reaches the same worker for its whole session (sticky by address), which
// socket.io's polling transport needs; TLS sessions and tickets resume on
// any worker (the runner sets the shared cache up). Needs `npm install socket.io`.
// Run: node examples/socket-io.js [port]
// Try: node -e "require('socket.io-client').io('https://localhost:8443',{transports:['polling'],rejectUnauthorized:false})
//        .emit('echo','hi',(r)=>{console.log(r);process.exit()})"
const cluster = require('node:cluster');
const https = require('node:https');
const { Server } = require('socket.io');
const { runCluster, clientAddress } = require('..'); // in your app: require('tls-shm-cache')
const { loadCertificate } = require('./certificate');

const port = Number(process.argv[2] ?? 8443);
if (cluster.isPrimary) loadCertificate(); // once, before the workers need it

runCluster(
  // In each worker: build the server, don't listen(); the primary hands it connections.
  async ({ index }) => {
    const server = https.createServer(loadCertificate());
    const io = new Server(server, { transports: ['polling', 'websocket'] });
    io.on('connection', (socket) => {
      const client = clientAddress(socket.request.socket); // the PROXY header's address with proxyProtocol: true
      socket.on('echo', (message, reply) => reply(`worker ${index} (pid ${process.pid}) to ${client.address}: ${message}`));
    });
    return server;
  },
  {
    port,
    workers: 2,
    hardShutdownDelay: 10000, // ms a graceful shutdown (Ctrl-C) may take
    cache: { items: 20000 }, // setupSharedCache() options
  },
).then((runner) => {
  if (runner.role === 'primary') console.log(`listening on ${runner.address.port}`);
});
