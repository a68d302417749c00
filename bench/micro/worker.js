'use strict';
// A cluster worker of one micro-benchmark trial: opens the store through its
// driver, then does what the trial's primary tells it (warm the table, run one
// timed phase) and reports back over the cluster IPC channel.
const { loadDriver } = require('./drivers');
const { makeKeys, makeValue, makeOrder } = require('../lib/workload');
const { timerOverheadNs, batchFor, timeGets, timeSets, timeAsync } = require('./measure');

const ORDER_LENGTH = 1 << 16; // a power of two, see measure.js

async function main() {
  const params = JSON.parse(process.env.BENCH_PARAMS);
  const driver = loadDriver(params.driver);
  const store = await driver.openWorker(process.env, params);
  const keys = makeKeys(params.items, params.keyBytes);
  const value = makeValue(params.valueBytes);
  // Each worker visits the keys in its own order, so two workers do not walk
  // the table in lockstep.
  const order = makeOrder(params.items, ORDER_LENGTH, 0x9e3779b9 + Number(process.env.BENCH_WORKER_INDEX) * 7919);
  const overheadNs = timerOverheadNs();
  const batches = {}; // op -> batch size, fixed after the op's first warm-up

  async function warm() {
    const started = Date.now();
    for (const key of keys) {
      if (driver.async) await new Promise((resolve) => store.set(key, value, resolve));
      else store.set(key, value);
    }
    return Date.now() - started;
  }

  async function timed(op, batch, durationNs) {
    if (driver.async) return timeAsync(store, op, keys, order, value, durationNs, overheadNs);
    if (op === 'get') return timeGets(store, keys, order, batch, durationNs, overheadNs);
    return timeSets(store, keys, order, value, batch, durationNs, overheadNs);
  }

  async function run(op, durationNs, warmupNs) {
    let warmupOps = 0;
    if (batches[op] === undefined) {
      // Unmeasured warm-up: lets the JIT settle and sizes the batch.
      const w = await timed(op, 64, warmupNs);
      batches[op] = driver.async ? 1 : batchFor(w.elapsedNs / w.ops, params.targetBatchNs);
      warmupOps = w.ops;
    }
    const r = await timed(op, batches[op], durationNs);
    return {
      op,
      batch: batches[op],
      // Operations of the warm-up (not timed, but the primary served them too).
      warmupOps,
      ops: r.ops,
      hits: r.hits,
      elapsedNs: r.elapsedNs,
      // Per-operation figures of each batch, to 0.01 ns, pooled by the primary.
      perOpNs: r.perOpNs.map((ns) => Math.round(ns * 100) / 100),
    };
  }

  process.on('message', (msg) => {
    const reply = (body) => process.send(body);
    if (msg.cmd === 'warm') {
      warm().then((ms) => reply({ type: 'warmed', ms }));
    } else if (msg.cmd === 'run') {
      run(msg.op, msg.durationNs, msg.warmupNs).then((r) => reply({ type: 'result', ...r }));
    } else if (msg.cmd === 'exit') {
      store.close();
      process.disconnect();
    }
  });
  process.send({ type: 'ready', pid: process.pid, timerOverheadNs: overheadNs });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
