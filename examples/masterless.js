'use strict';
// Mode 3: no primary of yours (PM2 cluster mode, or processes started by a
// supervisor). Every process attaches with the same `path`: the first creates
// the file, the others open it, and one at a time sweeps and rotates.
// Run two with one certificate (TLS_CERT / TLS_KEY: PEM files; processes
// serving different certificates share no sessions, by design):
//   TLS_CERT=cert.pem TLS_KEY=key.pem node examples/masterless.js 8443 &
//   TLS_CERT=cert.pem TLS_KEY=key.pem node examples/masterless.js 8444
// (different arguments: attachSharedCache makes their session ID contexts equal anyway)
// Under PM2 (all on one port through its cluster): TLS_CERT=cert.pem TLS_KEY=key.pem pm2 start examples/masterless.js -i 2
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { attachSharedCache } = require('..'); // in your app: require('tls-shm-cache')
const { loadCertificate } = require('./certificate');

const port = Number(process.argv[2] ?? 8443);
// On a tmpfs (/dev/shm): the file holds session secrets and the ticket key, keep them off disk.
const file = process.env.TLS_SHM_CACHE_PATH ?? path.join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 'example-sessions.cache');
const server = https.createServer(loadCertificate(), (req, res) => {
  res.end(`pid ${process.pid}: ${req.socket.isSessionReused() ? 'resumed' : 'full handshake'}\n`);
});
const attachment = attachSharedCache(server, { path: file, items: 20000, blocksize: 1024 });
server.listen(port, '127.0.0.1', () => console.log(`pid ${process.pid} listening on ${server.address().port} (${attachment.mode}, ${file})`));
process.on('SIGINT', () => process.exit(0));
