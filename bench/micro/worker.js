'use strict';
// A cluster worker of one micro-benchmark trial: opens the store through its
// driver, then does what the trial's primary tells it (warm the table with
// values of one size, run one timed phase at that size) and reports back over
// the cluster IPC channel.
const { loadDriver } = require('./drivers');
const { makeKeys, makeValue, makeOrder } = require('../lib/workload');
const { timerOverheadNs, batchFor, timeGets, timeSets, timeAsync } = require('./measure');

const ORDER_LENGTH = 1 << 16; // a power of two, see measure.js

async function main() {
  const params = JSON.parse(process.env.BENCH_PARAMS);
  const driver = loadDriver(params.driver);
  const store = await driver.openWorker(process.env, params);
  const keys = makeKeys(params.items, params.keyBytes);
  // One value of each size (the same bytes in every process and store).
  const values = new Map(params.sizes.map((n) => [n, makeValue(n)]));
  // Each worker visits the keys in its own order, so two workers do not walk
  // the table in lockstep.
  const order = makeOrder(params.items, ORDER_LENGTH, 0x9e3779b9 + Number(process.env.BENCH_WORKER_INDEX) * 7919);
  const overheadNs = timerOverheadNs();
  const batches = {}; // `${op} ${valueBytes}` -> batch size, fixed after that phase's first warm-up

  /** Stores every key with the value of `valueBytes` bytes, replacing what the table held. */
  async function warm(valueBytes) {
    const value = values.get(valueBytes);
    const started = Date.now();
    for (const key of keys) {
      if (driver.async) await new Promise((resolve) => store.set(key, value, resolve));
      else store.set(key, value);
    }
    return Date.now() - started;
  }

  /** The length of the value stored under the first key this worker reads (undefined on a miss). */
  async function storedBytes() {
    const key = keys[order[0]];
    const found = driver.async ? await new Promise((resolve) => store.get(key, resolve)) : store.get(key);
    return found === undefined ? undefined : found.length;
  }

  // Every size goes through the same timeGets / timeSets (measure.js): the
  // value is an argument, so each call site still sees one store function.
  async function timed(op, value, batch, durationNs) {
    if (driver.async) return timeAsync(store, op, keys, order, value, durationNs, overheadNs);
    if (op === 'get') return timeGets(store, keys, order, batch, durationNs, overheadNs);
    return timeSets(store, keys, order, value, batch, durationNs, overheadNs);
  }

  async function run(op, valueBytes, durationNs, warmupNs) {
    const value = values.get(valueBytes);
    const phase = `${op} ${valueBytes}`;
    // Before a get phase: the size the table really holds (the primary checks it).
    const valueBytesSeen = op === 'get' ? await storedBytes() : undefined;
    let warmupOps = 0;
    if (batches[phase] === undefined) {
      // Unmeasured warm-up: lets the JIT settle and sizes the batch (a 4 KB copy takes longer than a 160-byte one).
      const w = await timed(op, value, 64, warmupNs);
      batches[phase] = driver.async ? 1 : batchFor(w.elapsedNs / w.ops, params.targetBatchNs);
      warmupOps = w.ops;
    }
    const r = await timed(op, value, batches[phase], durationNs);
    return {
      op,
      valueBytes,
      valueBytesSeen,
      batch: batches[phase],
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
      warm(msg.valueBytes).then((ms) => reply({ type: 'warmed', ms }));
    } else if (msg.cmd === 'run') {
      run(msg.op, msg.valueBytes, msg.durationNs, msg.warmupNs).then((r) => reply({ type: 'result', ...r }));
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
