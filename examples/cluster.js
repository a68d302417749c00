'use strict';
// Mode 1, the normal case: the primary sets the cache up before forking; each
// worker attaches its HTTPS server. Run: node examples/cluster.js [port]
// Verify: openssl s_client -connect 127.0.0.1:8443 -reconnect -no_ticket -tls1_2 </dev/null | grep -E '^(New|Reused),'
const cluster = require('node:cluster');
const https = require('node:https');
const { setupSharedCache, attachSharedCache } = require('..'); // in your app: require('tls-shm-cache')
const { loadCertificate } = require('./certificate');

const port = Number(process.argv[2] ?? 8443);

if (cluster.isPrimary) {
  loadCertificate(); // once, before the workers need it
  const shared = setupSharedCache({
    items: 20000, // sessions held at once
    blocksize: 1024, // bytes per session (client-certificate sessions need more)
    timeout: 300, // seconds a session can be resumed from the cache
    tickets: { rotate: 12 * 60 * 60 }, // the cluster's ticket key, rotated every 12 h
    stats: { port: 0 }, // GET /stats, GET /metrics on 127.0.0.1
  });
  shared.statsUrl.then((url) => console.log(`stats on ${url}/stats`));
  for (let i = 0; i < 2; i++) cluster.fork();
  process.on('SIGHUP', () => shared.rotateTicketKey()); // e.g. after a suspected key leak
  process.on('SIGINT', () => shared.close().then(() => process.exit(0)));
} else {
  const server = https.createServer(loadCertificate(), (req, res) => {
    res.end(`worker ${process.pid}: ${req.socket.getProtocol()}, ${req.socket.isSessionReused() ? 'resumed' : 'full handshake'}\n`);
  });
  attachSharedCache(server);
  process.on('SIGINT', () => undefined); // Ctrl-C reaches the workers too: the primary stops them
  server.listen(port, '127.0.0.1', () => console.log(`worker ${process.pid} listening on https://localhost:${server.address().port}/`));
}
