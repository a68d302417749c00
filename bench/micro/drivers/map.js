'use strict';
// An in-process Map: the upper bound no shared store can beat, and what a
// per-worker session cache is. Keyed by the key's latin1 string (a Buffer as a
// Map key would compare by identity), which is also what
// strong-cluster-tls-store does with session ids. get() returns the stored
// Buffer itself, without a copy.

module.exports = {
  name: 'map',
  label: 'in-process Map',
  async: false,
  /** Each worker has its own Map, so each fills its own. */
  warmInEveryWorker: true,
  statsPoller: false,

  async setupPrimary() {
    return { env: {}, describe: () => ({ key: "key.toString('latin1')" }), close: async () => {} };
  },

  async openWorker() {
    const map = new Map();
    return {
      get: (key) => map.get(key.toString('latin1')),
      set: (key, value) => {
        map.set(key.toString('latin1'), value);
        return true;
      },
      close: () => map.clear(),
    };
  },
};
