'use strict';
// The competitors of the store micro-benchmark, by name. Each driver has the
// same shape: setupPrimary(params) runs in the trial's cluster primary before
// the workers are forked and returns { env, close, describe, pollStats? };
// openWorker(env, params) runs in each worker and returns { get, set, close }
// (synchronous, or taking a completion callback when `async` is true).
// Loaded on demand: a trial process loads only the driver it measures.
const NAMES = ['shm', 'map', 'lmdb', 'ipc'];

function loadDriver(name) {
  if (!NAMES.includes(name)) throw new Error(`unknown driver '${name}'; known: ${NAMES.join(', ')}`);
  return require(`./${name}`);
}

module.exports = { NAMES, loadDriver };
