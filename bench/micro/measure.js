'use strict';
// Timing loops. A synchronous operation that takes well under a microsecond
// cannot be timed one at a time: process.hrtime.bigint() itself costs tens of
// nanoseconds. So synchronous operations run in batches of `batch` calls,
// each batch timed with two hrtime.bigint() reads; the per-operation latency
// of a batch is (batch time - timer overhead) / batch, where the timer
// overhead is the median of back-to-back hrtime.bigint() pairs. The median
// and p99 are taken over those per-batch figures, so the p99 is the 99th
// percentile of batch averages (a single slow call inside a batch is spread
// over the batch). Batches are sized to take about `targetBatchNs` (20 us by
// default), which keeps the timer under 1% of each measurement.
// Asynchronous operations (an IPC round trip, tens of microseconds) are timed
// one by one: each call starts when the previous one completed.
//
// get and set have separate inner loops so that each call site sees one
// function; the batch timing around them is shared.

/** Median cost of one hrtime.bigint() pair, in ns. */
function timerOverheadNs(pairs = 20000) {
  const d = new Float64Array(pairs);
  for (let i = 0; i < pairs; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    d[i] = Number(b - a);
  }
  d.sort();
  return d[pairs >> 1];
}

/** Batch size that makes a batch last about targetBatchNs, given one op's cost. */
function batchFor(perOpNs, targetBatchNs = 20000) {
  return Math.max(1, Math.min(4096, Math.round(targetBatchNs / Math.max(perOpNs, 1))));
}

/**
 * Runs `runBatch(batch)` (which returns how many of its calls succeeded) until
 * `durationNs` has passed, timing each batch.
 * @returns {{perOpNs: number[], ops: number, hits: number, elapsedNs: number}}
 */
function timeBatches(runBatch, batch, durationNs, overheadNs) {
  const perOpNs = [];
  let ops = 0;
  let hits = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(durationNs));
  let t1 = start;
  do {
    const t0 = process.hrtime.bigint();
    hits += runBatch(batch);
    t1 = process.hrtime.bigint();
    perOpNs.push(Math.max(0, Number(t1 - t0) - overheadNs) / batch);
    ops += batch;
  } while (t1 < deadline);
  return { perOpNs, ops, hits, elapsedNs: Number(t1 - start) };
}

/** Times store.get over the keys in `order` (its length a power of two); `hits` counts values found. */
function timeGets(store, keys, order, batch, durationNs, overheadNs) {
  const mask = order.length - 1;
  let pos = 0;
  const getBatch = (n) => {
    let found = 0;
    for (let j = 0; j < n; j++) {
      if (store.get(keys[order[pos]]) !== undefined) found++;
      pos = (pos + 1) & mask;
    }
    return found;
  };
  return timeBatches(getBatch, batch, durationNs, overheadNs);
}

/** Times store.set(key, value) like timeGets; `hits` counts sets that reported success. */
function timeSets(store, keys, order, value, batch, durationNs, overheadNs) {
  const mask = order.length - 1;
  let pos = 0;
  const setBatch = (n) => {
    let stored = 0;
    for (let j = 0; j < n; j++) {
      if (store.set(keys[order[pos]], value) !== false) stored++;
      pos = (pos + 1) & mask;
    }
    return stored;
  };
  return timeBatches(setBatch, batch, durationNs, overheadNs);
}

/**
 * Times an asynchronous store one call at a time: op is 'get' or 'set';
 * store[op](key, [value,] done(result)).
 * @returns {Promise<{perOpNs: number[], ops: number, hits: number, elapsedNs: number}>}
 */
function timeAsync(store, op, keys, order, value, durationNs, overheadNs) {
  return new Promise((resolve) => {
    const perOpNs = [];
    const mask = order.length - 1;
    let pos = 0;
    let hits = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(durationNs));
    let t0 = 0n;
    const done = (result) => {
      const t1 = process.hrtime.bigint();
      perOpNs.push(Math.max(0, Number(t1 - t0) - overheadNs));
      if (result !== undefined && result !== false) hits++;
      if (t1 < deadline) next();
      else resolve({ perOpNs, ops: perOpNs.length, hits, elapsedNs: Number(t1 - start) });
    };
    const next = () => {
      const key = keys[order[pos]];
      pos = (pos + 1) & mask;
      t0 = process.hrtime.bigint();
      if (op === 'get') store.get(key, done);
      else store.set(key, value, done);
    };
    next();
  });
}

module.exports = { timerOverheadNs, batchFor, timeGets, timeSets, timeAsync };
