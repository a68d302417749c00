'use strict';
// The session stores of the TLS benchmark, by name, loaded on demand. Each has
// setupPrimary(params) -> { env, close, describe? } in the cluster primary and
// attachWorker(server, env, params) in each worker.
// 'hook' is not in the default matrix: it is for attributing the TLS 1.3 cost (see hook.js).
const NAMES = ['none', 'map', 'ipc', 'shm', 'hook'];
const DEFAULT_NAMES = ['none', 'map', 'ipc', 'shm'];

function loadStore(name) {
  if (!NAMES.includes(name)) throw new Error(`unknown store '${name}'; known: ${NAMES.join(', ')}`);
  return require(`./${name}`);
}

module.exports = { NAMES, DEFAULT_NAMES, loadStore };
