'use strict';
// One "host" of the cross-host benchmark: a cluster primary with
// setupSharedCache (with or without `remote`) and `workers` HTTPS workers
// serving TLS 1.2 with SSL_OP_NO_TICKET (clients resume by session ID only,
// the path the session stream replicates). Talks to bench/remote/run.js over IPC.
const cluster = require('node:cluster');
const fs = require('node:fs');
const https = require('node:https');
const { constants } = require('node:crypto');
const { setupSharedCache, attachSharedCache } = require('../../dist/index.js');

const config = JSON.parse(process.env.BENCH_REMOTE_HOST);
if (cluster.isPrimary) {
  const setup = setupSharedCache(config.setup);
  let listening = 0;
  for (let i = 0; i < config.workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m.port && ++listening === config.workers) process.send({ type: 'ready', port: m.port });
    });
  }
  process.on('message', async (m) => {
    if (m.cmd === 'stats') process.send({ type: 'stats', stats: setup.stats(), remote: setup.remoteStats(), cpu: process.cpuUsage() });
    if (m.cmd === 'exit') {
      for (const id in cluster.workers) cluster.workers[id].process.kill('SIGKILL');
      await setup.close();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
} else {
  const server = https.createServer(
    { key: fs.readFileSync(config.keyPath), cert: fs.readFileSync(config.certPath), secureOptions: constants.SSL_OP_NO_TICKET, maxVersion: 'TLSv1.2' },
    (req, res) => res.end('ok'),
  );
  attachSharedCache(server);
  server.listen(config.port, '127.0.0.1', () => process.send({ port: server.address().port }));
}
