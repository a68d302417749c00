'use strict';
// What a Node cluster resumes of TLS 1.2 session-ID clients WITHOUT any
// session store (no tls-shm-cache, no 'resumeSession' listener): the figure
// behind the README's "What each kind of client needs" table.
//
//   node bench/tls/without-store.js [workers=2] [runs=20]
//
// 1. `openssl s_client -reconnect -no_ticket -tls1_2`, `runs` times: five
//    reconnections each, every one offering the previous connection's session;
// 2. a Node client that makes one session and offers it again ten times, `runs` / 2 times.
// Node's default scheduling (round-robin) hands connections to workers in turn.
const cluster = require('node:cluster');
const https = require('node:https');
const tls = require('node:tls');
const fs = require('node:fs');
const { constants } = require('node:crypto');
const { execFile } = require('node:child_process');
const { makeCertificate } = require('./cert');

const workers = Number(process.argv[2] ?? 2);
const runs = Number(process.argv[3] ?? 20);

if (cluster.isPrimary) {
  const cert = makeCertificate();
  process.env.BENCH_KEY = cert.keyFile;
  process.env.BENCH_CERT = cert.certFile;
  let ready = 0;
  let port = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', async (message) => {
      port = message.port;
      if (++ready < workers) return;
      const reconnect = await opensslReconnects(port);
      const reoffered = await nodeReoffers(port);
      console.log(`${workers} worker(s), no session store:`);
      console.log(`  openssl -reconnect -no_ticket -tls1_2: ${reconnect.reused} of ${reconnect.total} reconnections resumed`);
      console.log(`  one session offered again (Node client, TLS 1.2, no tickets): ${reoffered.reused} of ${reoffered.total} resumed`);
      for (const w of Object.values(cluster.workers)) w.kill();
      cert.cleanup();
    });
  }
} else {
  const options = { key: fs.readFileSync(process.env.BENCH_KEY), cert: fs.readFileSync(process.env.BENCH_CERT), secureOptions: constants.SSL_OP_NO_TICKET };
  const server = https.createServer(options, (_req, res) => res.end('ok\n'));
  // A fixed port from the primary's pid so that every worker shares it (port 0 is shared too, but explicit is clearer).
  server.listen(20000 + (process.ppid % 20000), '127.0.0.1', () => process.send({ port: server.address().port }));
}

function opensslReconnects(port) {
  let reused = 0;
  let total = 0;
  const one = () =>
    new Promise((resolve) => {
      const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-reconnect', '-no_ticket', '-tls1_2'], (_e, out) => {
        const lines = String(out).match(/^(New|Reused), /gm) ?? [];
        total += Math.max(0, lines.length - 1);
        reused += lines.slice(1).filter((l) => l.startsWith('Reused')).length;
        resolve();
      });
      child.stdin.end();
    });
  return (async () => {
    for (let i = 0; i < runs; i++) await one();
    return { reused, total };
  })();
}

async function nodeReoffers(port) {
  const connect = (session) =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2', session }, () => {
        const result = { reused: socket.isSessionReused(), session: socket.getSession() };
        socket.end();
        resolve(result);
      });
      socket.on('error', reject);
    });
  let reused = 0;
  let total = 0;
  for (let i = 0; i < Math.max(1, runs / 2); i++) {
    const first = await connect();
    for (let j = 0; j < 10; j++) {
      total++;
      if ((await connect(first.session)).reused) reused++;
    }
  }
  return { reused, total };
}
