'use strict';
// Mode 2: one process, no cluster: attachSharedCache creates a private cache
// (and rotates the server's ticket key, which Node never does on its own).
// Run: node examples/single-process.js [port]
const tls = require('node:tls');
const { attachSharedCache } = require('..'); // in your app: require('tls-shm-cache')
const { loadCertificate } = require('./certificate');

const port = Number(process.argv[2] ?? 8443);
const server = tls.createServer(loadCertificate(), (socket) => socket.end(`${socket.isSessionReused() ? 'resumed' : 'new'}\n`));
const { cache } = attachSharedCache(server, { items: 5000, blocksize: 1024, timeout: 600 });
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}; cache of ${cache.stats().items} sessions`);
});
process.on('SIGINT', () => process.exit(0));
