'use strict';
// The session stores of the TLS benchmark, by name, loaded on demand. Each has
// setupPrimary(params) -> { env, close, describe? } in the cluster primary and
// attachWorker(server, env, params) in each worker.
// 'hook' is not in the default matrix: it is for attributing the TLS 1.3 cost (see hook.js).
// 'shm-norenew' neither: it measures what renewing every ticket costs TLS 1.2.
// A store may name the only client kinds it is measured with (`clients`).
const NAMES = ['none', 'map', 'ipc', 'shm', 'shm-single', 'hook', 'shm-norenew'];
const DEFAULT_NAMES = ['none', 'map', 'ipc', 'shm', 'shm-single'];

function loadStore(name) {
  if (!NAMES.includes(name)) throw new Error(`unknown store '${name}'; known: ${NAMES.join(', ')}`);
  return require(`./${name}`);
}

/** Whether the cell store x client is measured (stores and client kinds may restrict each other). */
function measured(store, client, kinds) {
  const s = loadStore(store);
  const k = kinds[client];
  return (!s.clients || s.clients.includes(client)) && (!k.stores || k.stores.includes(store));
}

module.exports = { NAMES, DEFAULT_NAMES, loadStore, measured };
