'use strict';
// tls-shm-cache, as its README tells users to run it: setupSharedCache() in
// the cluster primary (creates the segment, sweeps it, rotates the cluster's
// ticket key) and attachSharedCache(server) in each worker (synchronous
// newSession / resumeSession in shared memory, and the shared ticket key
// applied to the server).
const DIST = '../../../dist';

module.exports = {
  name: 'shm',
  label: 'tls-shm-cache',
  async setupPrimary() {
    const { setupSharedCache } = require(DIST);
    const shared = setupSharedCache({ stats: false });
    return {
      // setupSharedCache also puts the handle in this process's environment;
      // passing it explicitly keeps the benchmark independent of that detail.
      env: { TLS_SHM_CACHE_HANDLE: shared.cache.handle },
      /** The cache's own counters (cumulative), recorded with each cell. */
      describe: () => {
        const s = shared.stats();
        return {
          hits: s.hits,
          misses: s.misses,
          sets: s.sets,
          used: s.used,
          tls13SessionsSkipped: s.tls13SessionsSkipped,
          ticketKeyGeneration: s.ticketKey.generation,
          ticketKeyApplied: s.ticketKey.applied,
          handshakes: s.handshakes,
        };
      },
      close: async () => shared.close(),
    };
  },
  attachWorker(server) {
    const { attachSharedCache } = require(DIST);
    attachSharedCache(server);
  },
};
