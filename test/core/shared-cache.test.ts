/**
 * SharedCache semantics in one process: what set/get/replace/delete, expiry,
 * sweep, eviction, the size limits, stats and close() do.
 */
import crypto from 'node:crypto';
import t, { Test } from 'tap';
import { LIMITS, SharedCache, segmentBytes, TlsShmCacheError } from '../../src/index';
import { waitFor } from './fixtures/harness';

const key = (s: string) => Buffer.from(s);

function small(t: Test, options: Partial<Parameters<typeof SharedCache.create>[0]> = {}): SharedCache {
  const cache = SharedCache.create({ items: 64, blocksize: 128, timeout: 60, ...options });
  t.teardown(() => cache.close());
  return cache;
}

t.test('set stores a value that get returns, byte for byte', async (t) => {
  const cache = small(t);
  const value = Buffer.from([0, 1, 2, 255, 0, 128]);
  t.equal(cache.set(key('k'), value), true);
  t.same(cache.get(key('k')), value);
  t.equal(cache.stats().used, 1);
});

t.test('get of a key never stored is undefined, not an error', async (t) => {
  const cache = small(t);
  t.equal(cache.get(key('absent')), undefined);
});

t.test('a zero-length value is stored and read back as an empty Buffer', async (t) => {
  const cache = small(t);
  t.equal(cache.set(key('empty'), Buffer.alloc(0)), true);
  const got = cache.get(key('empty'));
  t.ok(Buffer.isBuffer(got));
  t.equal(got!.length, 0);
});

t.test('Uint8Array keys and values are accepted and get returns a Buffer', async (t) => {
  const cache = small(t);
  t.equal(cache.set(new Uint8Array([1, 2, 3]), new Uint8Array([9, 8, 7])), true);
  const got = cache.get(Buffer.from([1, 2, 3]));
  t.ok(Buffer.isBuffer(got));
  t.same([...got!], [9, 8, 7]);
});

t.test('keys that differ only in length or in one byte are distinct', async (t) => {
  const cache = small(t);
  cache.set(key('a'), key('one'));
  cache.set(Buffer.from('a\0'), key('two'));
  cache.set(key('b'), key('three'));
  t.equal(cache.get(key('a'))!.toString(), 'one');
  t.equal(cache.get(Buffer.from('a\0'))!.toString(), 'two');
  t.equal(cache.get(key('b'))!.toString(), 'three');
});

t.test('set of an existing key replaces its value without using another slot', async (t) => {
  const cache = small(t);
  cache.set(key('k'), Buffer.alloc(100, 1));
  t.equal(cache.set(key('k'), key('shorter')), true);
  t.equal(cache.get(key('k'))!.toString(), 'shorter');
  const s = cache.stats();
  t.equal(s.used, 1);
  t.equal(s.replaced, 1);
  t.equal(s.sets, 2);
});

t.test('delete removes the key and says whether it was there', async (t) => {
  const cache = small(t);
  cache.set(key('k'), key('v'));
  t.equal(cache.delete(key('k')), true);
  t.equal(cache.get(key('k')), undefined);
  t.equal(cache.delete(key('k')), false);
  t.equal(cache.delete(key('never')), false);
  t.equal(cache.stats().used, 0);
  t.equal(cache.stats().deletes, 1);
});

t.test('a deleted key can be stored again', async (t) => {
  const cache = small(t);
  cache.set(key('k'), key('first'));
  cache.delete(key('k'));
  t.equal(cache.set(key('k'), key('second')), true);
  t.equal(cache.get(key('k'))!.toString(), 'second');
});

t.test('get returns a copy: changing it changes nothing stored', async (t) => {
  const cache = small(t);
  cache.set(key('k'), key('original'));
  const first = cache.get(key('k'))!;
  first.fill(0x58);
  t.equal(cache.get(key('k'))!.toString(), 'original');
});

t.test('values returned by earlier gets stay intact after later gets', async (t) => {
  // One 1024-byte block per item: all 200 values stay (none is evicted).
  const cache = small(t, { items: 256, blocksize: 1024, blocks: 256 });
  const values = new Map<string, Buffer>();
  for (let i = 0; i < 200; i++) {
    const v = Buffer.alloc(1 + ((i * 37) % 1024), i & 0xff);
    values.set(`k${i}`, v);
    cache.set(key(`k${i}`), v);
  }
  // Enough gets to go through several of get()'s internal buffers.
  const got: Array<[string, Buffer]> = [];
  for (let round = 0; round < 3; round++) {
    for (const name of values.keys()) got.push([name, cache.get(key(name))!]);
  }
  const wrong = got.filter(([name, value]) => !values.get(name)!.equals(value));
  t.equal(wrong.length, 0, 'every returned Buffer still holds its own value');
});

t.test('changing the Buffer passed to set after the call changes nothing stored', async (t) => {
  const cache = small(t);
  const value = key('original');
  const k = key('k');
  cache.set(k, value);
  value.fill(0);
  k.fill(0);
  t.equal(cache.get(key('k'))!.toString(), 'original');
});

t.test('an item set with a short TTL is gone once it expires', async (t) => {
  const cache = small(t);
  t.equal(cache.set(key('short'), key('v'), 0.2), true);
  cache.set(key('long'), key('v'));
  t.equal(cache.get(key('short'))!.toString(), 'v', 'readable before it expires');
  const expiredBefore = cache.stats().expired;
  await waitFor('the short-lived item to expire', () => cache.get(key('short')) === undefined, 10_000);
  t.equal(cache.get(key('long'))!.toString(), 'v', 'an item with the default TTL is still there');
  t.ok(cache.stats().expired > expiredBefore, 'the expired read is counted');
});

t.test('the TTL given to set overrides the cache timeout in both directions', async (t) => {
  const cache = small(t, { timeout: 1 });
  cache.set(key('default'), key('v'));
  cache.set(key('longer'), key('v'), 3600);
  await waitFor('the default-TTL item (1 s) to expire', () => cache.get(key('default')) === undefined, 10_000);
  t.equal(cache.get(key('longer'))!.toString(), 'v');
});

t.test('replacing an item gives it the new TTL', async (t) => {
  const cache = small(t);
  cache.set(key('k'), key('old'), 3600);
  cache.set(key('k'), key('new'), 0.2);
  await waitFor('the replaced item to expire', () => cache.get(key('k')) === undefined, 10_000);
  t.pass('expired with the TTL of the replacing set');
});

t.test('sweep frees expired items, keeps live ones, and returns how many it freed', async (t) => {
  const cache = small(t);
  for (let i = 0; i < 5; i++) cache.set(key(`short${i}`), key('v'), 0.1);
  for (let i = 0; i < 3; i++) cache.set(key(`long${i}`), key('v'));
  t.equal(cache.stats().used, 8);
  await waitFor('the short-lived items to expire', () => {
    for (let i = 0; i < 5; i++) if (cache.get(key(`short${i}`)) !== undefined) return false;
    return true;
  });
  t.equal(cache.stats().used, 8, 'an expired item keeps its slot until swept');
  const runsBefore = cache.stats().sweepRuns;
  t.equal(cache.sweep(), 5);
  const s = cache.stats();
  t.equal(s.used, 3);
  t.equal(s.sweepRuns, runsBefore + 1);
  t.ok(s.sweepSeconds >= 0);
  for (let i = 0; i < 3; i++) t.equal(cache.get(key(`long${i}`))!.toString(), 'v');
  t.equal(cache.sweep(), 0, 'a second sweep finds nothing');
});

t.test('sweep on an empty cache returns 0', async (t) => {
  const cache = small(t);
  t.equal(cache.sweep(), 0);
});

t.test('a full cache evicts to make room: every set succeeds and the newest keys stay', async (t) => {
  const cache = small(t, { items: 8 });
  const results: boolean[] = [];
  for (let i = 0; i < 20; i++) {
    results.push(cache.set(key(`key${i}`), key(`value${i}`)));
    t.ok(cache.stats().used <= 8, `used never exceeds items (after set ${i})`);
  }
  t.ok(results.every(Boolean), 'every set returned true');
  const s = cache.stats();
  t.equal(s.used, 8);
  t.ok(s.evictions > 0, 'evictions are counted');
  t.equal(s.evictions, 12, 'one eviction per set beyond the capacity');
  for (let i = 12; i < 20; i++) {
    t.equal(cache.get(key(`key${i}`))?.toString(), `value${i}`, `key${i} (one of the newest 8) is readable`);
  }
});

t.test('a full cache evicts an expired item before a live one', async (t) => {
  const cache = small(t, { items: 8 });
  cache.set(key('doomed'), key('v'), 0.1);
  for (let i = 0; i < 7; i++) cache.set(key(`live${i}`), key('v'));
  await waitFor('the short-lived item to expire', () => cache.get(key('doomed')) === undefined);
  const before = cache.stats();
  t.equal(cache.set(key('newcomer'), key('v')), true);
  const after = cache.stats();
  t.equal(after.evictions, before.evictions, 'no live item was evicted');
  for (let i = 0; i < 7; i++) t.ok(cache.get(key(`live${i}`)), `live${i} is still there`);
  t.ok(cache.get(key('newcomer')));
});

t.test('a value longer than maxValueBytes is refused, counted, and not stored truncated', async (t) => {
  const cache = small(t, { maxValueBytes: 64 });
  t.equal(cache.set(key('big'), Buffer.alloc(65, 7)), false);
  t.equal(cache.get(key('big')), undefined, 'nothing (not a truncated value) is stored');
  t.equal(cache.stats().tooLarge, 1);
  t.equal(cache.stats().used, 0);
});

t.test('a value of exactly maxValueBytes bytes is stored whole', async (t) => {
  const cache = small(t, { maxValueBytes: 64 });
  const value = Buffer.alloc(64, 7);
  t.equal(cache.set(key('exact'), value), true);
  t.same(cache.get(key('exact')), value);
  t.equal(cache.stats().tooLarge, 0);
});

t.test('a refused value leaves the earlier value of that key as it was', async (t) => {
  const cache = small(t, { maxValueBytes: 64 });
  cache.set(key('k'), key('kept'));
  t.equal(cache.set(key('k'), Buffer.alloc(1000)), false);
  t.equal(cache.get(key('k'))!.toString(), 'kept');
});

t.test('a key longer than maxKeyLength is refused and counted; one of exactly maxKeyLength is stored', async (t) => {
  const cache = small(t, { maxKeyLength: 32 });
  t.equal(cache.set(Buffer.alloc(33, 1), key('v')), false);
  t.equal(cache.get(Buffer.alloc(33, 1)), undefined);
  t.equal(cache.get(Buffer.alloc(32, 1)), undefined, 'no truncated key was stored either');
  t.equal(cache.stats().tooLarge, 1);
  t.equal(cache.set(Buffer.alloc(32, 1), key('v')), true);
  t.equal(cache.get(Buffer.alloc(32, 1))!.toString(), 'v');
});

t.test('maxKeyLength defaults to 64 bytes', async (t) => {
  const cache = small(t);
  t.equal(cache.stats().maxKeyLength, 64);
  t.equal(cache.set(Buffer.alloc(64, 2), key('v')), true);
  t.equal(cache.set(Buffer.alloc(65, 2), key('v')), false);
});

t.test('stats reports the geometry, the counters and the attachment', async (t) => {
  const before = Date.now();
  const cache = small(t, { items: 100, blocksize: 256, maxValueBytes: 256, timeout: 42, maxKeyLength: 48 });
  cache.set(key('a'), key('1')); // inserted
  cache.set(key('a'), key('2')); // replaced
  cache.get(key('a')); // hit
  cache.get(key('b')); // miss
  cache.delete(key('a')); // deleted
  cache.delete(key('a')); // not there: no count
  cache.set(key('c'), Buffer.alloc(257)); // too large
  const s = cache.stats();
  t.match(s, {
    items: 100,
    blocksize: 256,
    blocks: 175, // 100 items × 448 bytes on average, in 256-byte blocks
    blocksUsed: 0,
    blocksFree: 175,
    bytesStored: 0,
    maxValueBytes: 256,
    maxKeyLength: 48,
    timeout: 42,
    used: 0,
    attached: 1,
    hits: 1,
    misses: 1,
    sets: 2,
    replaced: 1,
    deletes: 1,
    evictions: 0,
    expired: 0,
    tooLarge: 1,
    errors: 0,
    recoveries: 0,
    maintainerPid: 0,
    tls13SessionsSkipped: 0,
    ticketKey: { generation: 0, ageSeconds: null },
  });
  t.equal(s.memoryBytes, segmentBytes(100, 256, 48), 'memoryBytes is the mapped size');
  t.ok(s.createdAt >= before - 60_000 && s.createdAt <= Date.now() + 60_000, 'createdAt is a wall-clock timestamp in ms');
  for (const version of ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const) {
    t.same(s.handshakes[version], { full: 0, cache: 0, ticket: 0 }, `no ${version} handshakes counted`);
  }
  t.notMatch(JSON.stringify(s), /"key"/, 'stats never carries a ticket key');
});

t.test('stats returns a fresh snapshot each call', async (t) => {
  const cache = small(t);
  const first = cache.stats();
  cache.set(key('k'), key('v'));
  t.equal(first.sets, 0, 'the earlier snapshot did not change');
  t.equal(cache.stats().sets, 1);
});

t.test('the exported LIMITS match what create accepts at the edges', async (t) => {
  const cache = small(t, { blocksize: LIMITS.minBlocksize, maxKeyLength: 1 });
  t.equal(cache.stats().blocksize, LIMITS.minBlocksize);
  t.equal(cache.set(key('x'), Buffer.alloc(LIMITS.minBlocksize)), true);
});

t.test('close() twice is harmless and marks the cache closed', async (t) => {
  const cache = SharedCache.create({ items: 8, blocksize: 64, timeout: 10 });
  t.equal(cache.closed, false);
  cache.close();
  t.doesNotThrow(() => cache.close());
  t.equal(cache.closed, true);
});

t.test('every call on a closed cache throws TlsShmCacheError ERR_TLS_SHM_CLOSED', async (t) => {
  const cache = SharedCache.create({ items: 8, blocksize: 64, timeout: 10 });
  cache.set(key('k'), key('v'));
  cache.close();
  const calls: Record<string, () => unknown> = {
    get: () => cache.get(key('k')),
    set: () => cache.set(key('k'), key('v')),
    delete: () => cache.delete(key('k')),
    sweep: () => cache.sweep(),
    stats: () => cache.stats(),
  };
  for (const [name, call] of Object.entries(calls)) {
    let caught: unknown;
    try {
      call();
    } catch (error) {
      caught = error;
    }
    t.ok(caught instanceof TlsShmCacheError, `${name} throws a TlsShmCacheError`);
    t.match(caught, { code: 'ERR_TLS_SHM_CLOSED', name: 'TlsShmCacheError' }, `${name} says the cache is closed`);
  }
});

t.test('a closed cache still reports its handle', async (t) => {
  const cache = SharedCache.create({ items: 8, blocksize: 64, timeout: 10 });
  const handle = cache.handle;
  cache.close();
  t.equal(cache.handle, handle);
});

t.test('two caches in one process are independent', async (t) => {
  const a = small(t);
  const b = small(t);
  t.not(a.handle, b.handle);
  a.set(key('k'), key('in a'));
  t.equal(b.get(key('k')), undefined);
});

t.test('a second handle opened on the same cache in one process sees the same items', async (t) => {
  const a = small(t);
  const b = SharedCache.open(a.handle);
  t.teardown(() => b.close());
  t.equal(b.created, false);
  a.set(key('k'), key('v'));
  t.equal(b.get(key('k'))!.toString(), 'v');
  b.delete(key('k'));
  t.equal(a.get(key('k')), undefined);
});

t.test('segmentBytes(items, blocksize, maxKeyLength) is exactly the size stats reports', async (t) => {
  const geometries: Array<[number, number, number]> = [
    [1, 16, 1],
    [8, 64, 64],
    [100, 256, 48],
    [3, 17, 1024],
    [5000, 4000, 100],
  ];
  for (const [items, blocksize, maxKeyLength] of geometries) {
    const cache = SharedCache.create({ items, blocksize, timeout: 10, maxKeyLength });
    t.equal(cache.stats().memoryBytes, segmentBytes(items, blocksize, maxKeyLength), `items=${items} blocksize=${blocksize} maxKeyLength=${maxKeyLength}`);
    cache.close();
  }
});

t.test('transferring one returned value to another thread leaves the other returned values intact', async (t) => {
  const cache = small(t);
  cache.set(key('a'), key('value a'));
  cache.set(key('b'), key('value b'));
  const a = cache.get(key('a'))!;
  const b = cache.get(key('b'))!;
  // What postMessage(b, [b.buffer]) does to the ArrayBuffer behind b.
  structuredClone(b.buffer, { transfer: [b.buffer as ArrayBuffer] });
  t.equal(a.toString(), 'value a');
  t.equal(cache.get(key('a'))!.toString(), 'value a', 'later gets still work');
});

// ---- values that span blocks (issue 10) --------------------------------------------

t.test('with the default configuration every size from 1 byte to 10 KiB is stored; 10 KiB + 1 is refused', async (t) => {
  const cache = SharedCache.create({ items: 64, timeout: 60 });
  t.teardown(() => cache.close());
  const s0 = cache.stats();
  t.match(s0, { blocksize: 96, maxValueBytes: 10240 }, 'defaults: 96-byte blocks, 10 KiB values');
  const sizes = [1, 2, 63, 64, 65, 160, 1100, 1600, 4096, 8191, 10239, 10240];
  for (const n of sizes) {
    const v = Buffer.alloc(n);
    for (let i = 0; i < n; i++) v[i] = (i * 7 + n) & 0xff;
    t.equal(cache.set(key(`s${n}`), v), true, `${n} bytes stored`);
    t.same(cache.get(key(`s${n}`)), v, `${n} bytes read back whole`);
  }
  t.equal(cache.set(key('over'), Buffer.alloc(10241)), false, '10241 bytes refused');
  t.equal(cache.stats().tooLarge, 1);
  t.equal(cache.get(key('over')), undefined);
});

t.test('stats count blocks and bytes as values come and go', async (t) => {
  const cache = small(t, { items: 16, blocksize: 64, blocks: 100, maxValueBytes: 4096 });
  cache.set(key('a'), Buffer.alloc(160)); // 3 blocks
  cache.set(key('b'), Buffer.alloc(1000)); // 16 blocks
  t.match(cache.stats(), { blocks: 100, blocksUsed: 19, blocksFree: 81, bytesStored: 1160 });
  cache.set(key('b'), Buffer.alloc(1)); // replaced by a 1-block value
  t.match(cache.stats(), { blocksUsed: 4, bytesStored: 161 });
  cache.delete(key('a'));
  t.match(cache.stats(), { blocksUsed: 1, blocksFree: 99, bytesStored: 1 });
});

t.test('eviction makes room for a large value; the large value replaces small ones and back', async (t) => {
  // Keys of at most 8 bytes take one word of their item's blocks.
  const cache = small(t, { items: 64, blocksize: 64, blocks: 40, maxValueBytes: 2552, maxKeyLength: 8 });
  for (let i = 0; i < 13; i++) cache.set(key(`small${i}`), Buffer.alloc(160, i)); // 8 + 160 bytes: 3 blocks each, 39 in all
  const large = Buffer.alloc(2552, 9); // 8 + 2552 bytes, 40 blocks: everything else must go
  t.equal(cache.set(key('large'), large), true);
  t.same(cache.get(key('large')), large);
  t.equal(cache.stats().evictions, 13);
  t.equal(cache.set(key('large'), Buffer.from('tiny')), true);
  t.equal(cache.get(key('large'))!.toString(), 'tiny');
  t.match(cache.stats(), { blocksUsed: 1, used: 1 });
});

t.test('a memory budget derives items and blocks that fit in it', async (t) => {
  const memory = 16 * 1024 * 1024;
  const cache = SharedCache.create({ memory, timeout: 60 });
  t.teardown(() => cache.close());
  const s = cache.stats();
  t.ok(s.memoryBytes <= memory, `${s.memoryBytes} bytes mapped, at most the budget`);
  t.ok(s.memoryBytes > memory * 0.97, 'and most of it used');
  t.equal(s.memoryBytes, segmentBytes(s.items, s.blocksize, s.maxKeyLength, s.blocks), 'segmentBytes agrees');
  // Slots for as many typical sessions (32-byte ID, 160-byte session: 2 blocks) as fit (issue 10: 4,400 a MiB).
  t.ok(s.items >= 4400 * 16, `${s.items} items in 16 MiB`);
  t.ok(s.blocks >= 2 * s.items, `${s.blocks} blocks: two for every slot at least`);
  const value = Buffer.alloc(160, 7);
  const ids = Array.from({ length: s.items }, () => crypto.randomBytes(32));
  for (const id of ids) cache.set(id, value);
  t.equal(ids.filter((id) => cache.get(id)?.equals(value)).length, s.items, 'every slot holds a typical session, and each reads back');
  t.equal(cache.stats().evictions, 0, 'none evicted');
});

t.test('a mixed population churned at random is never refused (no fragmentation)', async (t) => {
  const cache = small(t, { items: 256, blocksize: 64, blocks: 256 * 7, maxValueBytes: 10240 });
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let refused = 0;
  let wrong = 0;
  for (let op = 0; op < 100_000; op++) {
    const k = key(`k${rnd(1000)}`);
    const r = rnd(100);
    const n = r < 90 ? 160 : r < 99 ? 1100 + rnd(2900) : 1 + rnd(10240);
    const v = Buffer.alloc(n, op & 0xff);
    if (!cache.set(k, v)) refused++;
    else if (!v.equals(cache.get(k) ?? Buffer.alloc(0))) wrong++;
  }
  t.equal(refused, 0, 'no set within the limit was refused');
  t.equal(wrong, 0, 'every value read back as written');
  t.equal(cache.stats().errors, 0);
});
