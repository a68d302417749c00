'use strict';
// The benchmark's TLS cluster, in a process of its own: this process is the
// cluster primary. It sets up the store's primary side, forks the workers,
// puts the balancer in front, and reports to run.js (which forked it):
// { type: 'ready', port } once clients may connect, and on { cmd: 'snapshot' }
// the workers' counters and CPU time plus its own. Parameters come as JSON in
// argv[2]. { cmd: 'stop' } shuts everything down.
const cluster = require('node:cluster');
const path = require('node:path');
const { loadStore } = require('./stores');
const { balancers } = require('./balancers');
const { nextMessage } = require('../lib/worker-message');

async function main() {
  const params = JSON.parse(process.argv[2]);
  const store = loadStore(params.store);
  const primary = await store.setupPrimary(params);
  cluster.schedulingPolicy = cluster.SCHED_RR;
  cluster.setupPrimary({ exec: path.join(__dirname, 'server-worker.js') });
  const workers = [];
  for (let i = 0; i < params.workers; i++) {
    workers.push(cluster.fork({ ...primary.env, BENCH_TLS_PARAMS: JSON.stringify(params) }));
  }
  const ready = await Promise.all(workers.map((w) => nextMessage(w, 'ready')));
  const front = await balancers[params.balancer].primary(workers, ready.map((r) => r.port));

  let stopping = false;
  for (const w of workers) {
    w.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(`TLS worker ${w.process.pid} died (${signal || code})`);
        process.exit(1);
      }
    });
  }

  process.on('message', async (msg) => {
    if (msg.cmd === 'snapshot') {
      const snaps = await Promise.all(workers.map((w) => { const p = nextMessage(w, 'snapshot'); w.send({ cmd: 'snapshot' }); return p; }));
      process.send({
        type: 'snapshot',
        atNs: String(process.hrtime.bigint()),
        workers: snaps,
        primaryCpu: process.cpuUsage(),
        store: primary.describe ? primary.describe() : undefined,
      });
    } else if (msg.cmd === 'stop') {
      stopping = true;
      await front.close();
      await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); w.kill(); })));
      await primary.close();
      process.send({ type: 'stopped' });
      process.disconnect();
    }
  });
  process.send({ type: 'ready', port: front.port, pids: workers.map((w) => w.process.pid) });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
