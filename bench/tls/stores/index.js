'use strict';
// The session stores of the TLS benchmark, by name, loaded on demand. Each has
// setupPrimary(params) -> { env, close, describe? } in the cluster primary and
// attachWorker(server, env, params) in each worker.
const NAMES = ['none', 'map', 'ipc', 'shm'];

function loadStore(name) {
  if (!NAMES.includes(name)) throw new Error(`unknown store '${name}'; known: ${NAMES.join(', ')}`);
  return require(`./${name}`);
}

module.exports = { NAMES, loadStore };
