'use strict';
// tls-shm-cache: the segment is created by the trial's primary (as
// setupSharedCache does in a real cluster) and opened by each worker from its
// handle. get() returns a fresh copy of the value, set() replaces in place.
const { SharedCache } = require('../../../dist');

module.exports = {
  name: 'shm',
  label: 'tls-shm-cache',
  async: false,
  /** The table is shared: one worker fills it. */
  warmInEveryWorker: false,
  /** It has a stats() that a poller can call from another process (issue 4). */
  statsPoller: true,

  /** In the primary: create the segment; workers get its handle. */
  async setupPrimary(params) {
    const cache = SharedCache.create({
      items: params.capacity,
      blocksize: params.blocksize,
      timeout: params.ttl,
      maxKeyLength: Math.max(64, params.keyBytes),
    });
    return {
      env: { BENCH_SHM_HANDLE: cache.handle },
      /** What a stats poller does every interval: read the summed counters. */
      pollStats: () => cache.stats(),
      describe: () => ({ items: params.capacity, blocksize: params.blocksize, memoryBytes: cache.stats().memoryBytes }),
      close: async () => cache.close(),
    };
  },

  /** In a worker: open the primary's segment. */
  async openWorker(env) {
    const cache = SharedCache.open(env.BENCH_SHM_HANDLE);
    return {
      get: (key) => cache.get(key),
      set: (key, value) => cache.set(key, value),
      close: () => cache.close(),
    };
  },
};
