'use strict';
// tls-shm-cache: the segment is created by the trial's primary (as
// setupSharedCache does in a real cluster) and opened by each worker from its
// handle. get() returns a fresh copy of the value, set() replaces in place.
//
// One geometry for every value size, with the library's defaults for what
// bounds and divides a value (blocksize: the allocation granule;
// maxValueBytes: the largest value accepted): the point of the size rows is
// that the defaults serve every size. Only the memory is sized to the run:
// twice as many slots as items (`capacity`), and enough blocks for as many
// values of the largest size, so the table is half full at every size and no
// get misses because a large value evicted another.
const { SharedCache } = require('../../../dist');
const { DEFAULT_BLOCKSIZE } = require('../../../dist/core/shared-cache');

/**
 * The `blocks` option: `capacity` items of the largest size, in blocks of the
 * default granule (an item is its key, in whole 8-byte words, then its value).
 */
function blocksFor(params) {
  if (!Number.isInteger(DEFAULT_BLOCKSIZE) || DEFAULT_BLOCKSIZE < 1) throw new Error('dist/core/shared-cache exports no DEFAULT_BLOCKSIZE');
  const keySpan = Math.ceil(params.keyBytes / 8) * 8;
  return params.capacity * Math.ceil((keySpan + Math.max(...params.sizes)) / DEFAULT_BLOCKSIZE);
}

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
      blocks: blocksFor(params),
      timeout: params.ttl,
      maxKeyLength: Math.max(64, params.keyBytes),
    });
    const s = cache.stats();
    if (Math.max(...params.sizes) > s.maxValueBytes) {
      cache.close();
      throw new Error(`a ${Math.max(...params.sizes)}-byte value is over the default maxValueBytes (${s.maxValueBytes}): see --sizes`);
    }
    return {
      env: { BENCH_SHM_HANDLE: cache.handle },
      /** What a stats poller does every interval: read the summed counters. */
      pollStats: () => cache.stats(),
      describe: () => ({ items: s.items, blocksize: s.blocksize, blocks: s.blocks, maxValueBytes: s.maxValueBytes, memoryBytes: s.memoryBytes }),
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
