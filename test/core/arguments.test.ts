/**
 * Argument validation: every bad input to the public API is refused before
 * the native call with a TypeError / RangeError that carries a `code` and names
 * the argument; the native binding, called directly with garbage, throws or
 * returns but never takes the process down.
 */
import fs from 'node:fs';
import t, { Test } from 'tap';
import { LIMITS, SharedCache, TlsShmCacheError } from '../../src/index';
import { scratchDir, spawnFixture } from './fixtures/harness';

type ErrorClass = typeof TypeError | typeof RangeError;

const CODES = new Map<ErrorClass, string>([
  [TypeError, 'ERR_INVALID_ARG_TYPE'],
  [RangeError, 'ERR_OUT_OF_RANGE'],
]);

/** Asserts that `fn` throws `Class` with the matching code and a message matching `message`. */
function refuses(t: Test, fn: () => unknown, Class: ErrorClass, message: RegExp, what: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  t.ok(caught instanceof Class, `${what}: throws a ${Class.name}`);
  t.match(caught, { code: CODES.get(Class), message }, `${what}: code and message`);
}

const valid = { items: 8, blocksize: 64, timeout: 10 };
// Cast through unknown: these calls are wrong on purpose.
const create = (options: unknown) => SharedCache.create(options as Parameters<typeof SharedCache.create>[0]);

t.test('SharedCache.create', async (t) => {
  t.test('without options: TypeError naming the required options', async (t) => {
    refuses(t, () => create(undefined), TypeError, /options .*items.*blocksize.*timeout.* required/, 'create()');
  });

  t.test('options that are not an object: TypeError', async (t) => {
    for (const options of [null, 'items=8', 42, true, [8, 64, 10]]) {
      refuses(t, () => create(options), TypeError, /options must be an object/, `create(${JSON.stringify(options)})`);
    }
  });

  // blocksize (the granule since values span blocks) has a default, 64.
  t.test('a missing required option: TypeError naming it', async (t) => {
    for (const name of ['items', 'timeout'] as const) {
      const options: Record<string, unknown> = { ...valid };
      delete options[name];
      refuses(t, () => create(options), TypeError, new RegExp(`^${name} must be a number, got type undefined`), `no ${name}`);
    }
  });

  t.test('an option of the wrong type: TypeError naming it and what it got', async (t) => {
    const cases: Array<[string, unknown]> = [
      ['items', '8'],
      ['items', 8n],
      ['items', null],
      ['blocksize', '64'],
      ['blocksize', {}],
      ['timeout', '10'],
      ['timeout', true],
      ['maxKeyLength', '32'],
    ];
    for (const [name, value] of cases) {
      refuses(t, () => create({ ...valid, [name]: value }), TypeError, new RegExp(`^${name} must be a number`), `${name}: ${String(value)}`);
    }
  });

  t.test('zero, negative, non-integer, NaN or infinite sizes: RangeError naming the option', async (t) => {
    for (const name of ['items', 'blocksize', 'timeout', 'maxKeyLength'] as const) {
      for (const value of [0, -1, -64, 1.5, 16.25, NaN, Infinity, -Infinity]) {
        refuses(t, () => create({ ...valid, [name]: value }), RangeError, new RegExp(`^${name} must be an integer from`), `${name}: ${value}`);
      }
    }
  });

  t.test('sizes beyond their limits: RangeError stating the limit', async (t) => {
    const cases: Array<[string, number, number]> = [
      ['items', LIMITS.items + 1, LIMITS.items],
      ['blocksize', LIMITS.minBlocksize - 1, LIMITS.blocksize],
      ['blocksize', LIMITS.blocksize + 1, LIMITS.blocksize],
      ['maxKeyLength', LIMITS.maxKeyLength + 1, LIMITS.maxKeyLength],
      ['timeout', LIMITS.timeout + 1, LIMITS.timeout],
    ];
    for (const [name, value, limit] of cases) {
      refuses(t, () => create({ ...valid, [name]: value }), RangeError, new RegExp(`^${name} must be an integer from \\d+ to ${limit}, got ${value}`), `${name}: ${value}`);
    }
  });

  t.test('items and blocks × blocksize beyond 16 GiB: RangeError naming them and the limit', async (t) => {
    const need = /items and blocks × blocksize need [\d.]+ GiB; the limit is 16 GiB/;
    refuses(t, () => create({ items: LIMITS.items, blocksize: 2048, blocks: 2 ** 23, timeout: 10 }), RangeError, need, '2^23 × 2048');
    refuses(t, () => create({ items: 2 ** 16, blocksize: LIMITS.blocksize, blocks: 2 ** 14, timeout: 10 }), RangeError, need, '2^14 × 1 MiB');
  });

  t.test('blocks too few for one item of maxKeyLength + maxValueBytes: RangeError', async (t) => {
    const tooFew = /blocks × blocksize \(\d+ × 64\) must hold one item of maxKeyLength \+ maxValueBytes \(64 \+ 129 bytes: at least 4 blocks\)/;
    refuses(t, () => create({ items: 8, blocksize: 64, blocks: 2, maxValueBytes: 129, timeout: 10 }), RangeError, tooFew, '2 × 64 < 129');
    refuses(t, () => create({ items: 8, blocksize: 64, blocks: 3, maxValueBytes: 129, timeout: 10 }), RangeError, tooFew, 'the key counts: 3 × 64 < 64 + 129');
    refuses(t, () => create({ items: 8, maxValueBytes: LIMITS.maxValueBytes + 1, timeout: 10 }), RangeError, /^maxValueBytes must be/, 'maxValueBytes over 1 MiB');
    refuses(t, () => create({ items: 8, blocks: 0, timeout: 10 }), RangeError, /^blocks must be/, 'no blocks');
  });

  t.test("a misspelt option: TypeError with a 'did you mean' hint", async (t) => {
    refuses(t, () => create({ ...valid, timout: 10 }), TypeError, /unknown option 'timout' \(did you mean 'timeout'\?\)/, 'timout');
    refuses(t, () => create({ ...valid, maxkeylength: 10 }), TypeError, /unknown option 'maxkeylength' \(did you mean 'maxKeyLength'\?\)/, 'maxkeylength');
    refuses(t, () => create({ ...valid, blockSize: 64 }), TypeError, /did you mean 'blocksize'/, 'blockSize');
    refuses(t, () => create({ ...valid, item: 8 }), TypeError, /did you mean 'items'/, 'item');
  });

  t.test('an unknown option unlike any known one: TypeError listing the known options', async (t) => {
    refuses(t, () => create({ ...valid, compression: true }), TypeError, /unknown option 'compression'; known options: items, blocksize, blocks, maxValueBytes, memory, timeout, maxKeyLength, backing, path$/, 'compression');
  });

  t.test("a backing other than 'memfd' or 'shm': TypeError naming backing", async (t) => {
    for (const backing of [42, true, {}]) {
      refuses(t, () => create({ ...valid, backing: backing as 'shm' }), TypeError, /backing must be 'memfd' or 'shm', got \w+$/, String(backing));
    }
    for (const backing of ['posix', '']) {
      t.throws(() => create({ ...valid, backing: backing as 'shm' }), { code: 'ERR_INVALID_ARG_VALUE', message: /backing must be 'memfd' or 'shm'/ }, backing);
    }
  });

  t.test('a path that is not a non-empty string: TypeError naming path', async (t) => {
    for (const value of ['', 42, {}, 'a\0b']) {
      refuses(t, () => create({ ...valid, path: value }), TypeError, /^path must be a non-empty string without NUL bytes/, `path: ${JSON.stringify(value)}`);
    }
  });

  t.test('an option explicitly undefined counts as not given', async (t) => {
    const cache = create({ ...valid, maxKeyLength: undefined, path: undefined });
    t.teardown(() => cache.close());
    t.equal(cache.stats().maxKeyLength, 64);
  });

  t.test('a refused create leaves no segment behind', async (t) => {
    const before = new Set(fs.readdirSync('/dev/shm').filter((n) => n.startsWith(`tls-shm-cache.${process.pid}.`)));
    try {
      create({ ...valid, items: 0 });
    } catch {
      // expected
    }
    const after = fs.readdirSync('/dev/shm').filter((n) => n.startsWith(`tls-shm-cache.${process.pid}.`) && !before.has(n));
    t.same(after, []);
  });
});

t.test('SharedCache.open', async (t) => {
  t.test('a handle that is not a non-empty string: TypeError naming handle', async (t) => {
    for (const handle of [undefined, null, 42, '', {}, 'shm:/x\0y']) {
      refuses(t, () => SharedCache.open(handle as string), TypeError, /^handle must be a non-empty string/, `open(${JSON.stringify(handle)})`);
    }
  });

  t.test("a handle without 'shm:' or 'file:': TypeError ERR_INVALID_ARG_VALUE", async (t) => {
    for (const handle of ['/dev/shm/tls-shm-cache.1.abc', 'redis://localhost', 'SHM:/x', 'tls-shm-cache.1.abc']) {
      let caught: unknown;
      try {
        SharedCache.open(handle);
      } catch (error) {
        caught = error;
      }
      t.ok(caught instanceof TypeError, `${handle}: TypeError`);
      t.match(caught, { code: 'ERR_INVALID_ARG_VALUE', message: /handle must start with 'shm:', 'memfd:' or 'file:'/ }, handle);
    }
  });

  t.test("'shm:' or 'file:' with no name: TlsShmCacheError ERR_TLS_SHM_INVALID", async (t) => {
    for (const handle of ['shm:', 'file:']) {
      t.throws(() => SharedCache.open(handle), { name: 'TlsShmCacheError', code: 'ERR_TLS_SHM_INVALID' }, handle);
    }
  });

  t.test('a well-formed handle of nothing: TlsShmCacheError ERR_TLS_SHM_NOT_FOUND', async (t) => {
    const dir = scratchDir(t);
    for (const handle of ['shm:/tls-shm-cache.1.0000000000000000', `file:${dir}/no-such-cache`]) {
      let caught: unknown;
      try {
        SharedCache.open(handle);
      } catch (error) {
        caught = error;
      }
      t.ok(caught instanceof TlsShmCacheError, `${handle}: TlsShmCacheError`);
      t.match(caught, { code: 'ERR_TLS_SHM_NOT_FOUND' }, handle);
    }
  });
});

t.test('get, set and delete', async (t) => {
  const cache = SharedCache.create({ items: 8, blocksize: 64, timeout: 10 });
  t.teardown(() => cache.close());
  const notBytes: unknown[] = [undefined, null, 'key', 42, {}, [1, 2], new Uint16Array(2), new ArrayBuffer(4), new DataView(new ArrayBuffer(4))];

  t.test('a key that is not a Buffer or Uint8Array: TypeError naming key', async (t) => {
    for (const bad of notBytes) {
      const what = Object.prototype.toString.call(bad);
      refuses(t, () => cache.get(bad as Buffer), TypeError, /^key must be a Buffer or Uint8Array/, `get(${what})`);
      refuses(t, () => cache.set(bad as Buffer, Buffer.from('v')), TypeError, /^key must be a Buffer or Uint8Array/, `set(${what}, v)`);
      refuses(t, () => cache.delete(bad as Buffer), TypeError, /^key must be a Buffer or Uint8Array/, `delete(${what})`);
    }
  });

  t.test('a value that is not a Buffer or Uint8Array: TypeError naming value', async (t) => {
    for (const bad of notBytes) {
      refuses(t, () => cache.set(Buffer.from('k'), bad as Buffer), TypeError, /^value must be a Buffer or Uint8Array/, `set(k, ${Object.prototype.toString.call(bad)})`);
    }
  });

  t.test('an empty key: set refuses it with a RangeError naming key', async (t) => {
    refuses(t, () => cache.set(Buffer.alloc(0), Buffer.from('v')), RangeError, /^key must not be empty/, 'set(empty key)');
  });

  t.test('an empty key: get and delete find nothing', async (t) => {
    t.equal(cache.get(Buffer.alloc(0)), undefined);
    t.equal(cache.delete(Buffer.alloc(0)), false);
  });

  t.test('a TTL of the wrong type: TypeError naming ttlSeconds', async (t) => {
    for (const ttl of ['1', null, true, {}, 1n]) {
      refuses(t, () => cache.set(Buffer.from('k'), Buffer.from('v'), ttl as number), TypeError, /^ttlSeconds must be a number/, `ttl ${String(ttl)}`);
    }
  });

  t.test('a TTL out of range (zero, negative, below 1 ms, NaN, infinite, too long): RangeError naming ttlSeconds', async (t) => {
    for (const ttl of [0, -1, 0.0005, NaN, Infinity, -Infinity, LIMITS.timeout + 1]) {
      refuses(t, () => cache.set(Buffer.from('k'), Buffer.from('v'), ttl), RangeError, /^ttlSeconds must be from 0.001 to \d+/, `ttl ${ttl}`);
    }
  });

  t.test('a refused call stores nothing and counts nothing', async (t) => {
    const before = cache.stats();
    try {
      cache.set(Buffer.from('k'), Buffer.from('v'), -1);
    } catch {
      // expected
    }
    const after = cache.stats();
    t.equal(after.used, before.used);
    t.equal(after.sets, before.sets);
    t.equal(after.tooLarge, before.tooLarge);
    t.equal(cache.get(Buffer.from('k')), undefined);
  });

  t.test('after all of that the cache still works', async (t) => {
    t.equal(cache.set(Buffer.from('k'), Buffer.from('v'), 5), true);
    t.equal(cache.get(Buffer.from('k'))!.toString(), 'v');
  });
});

t.test('the raw native binding called with garbage throws or returns, and never crashes the process', async (t) => {
  const dir = scratchDir(t);
  const child = spawnFixture(t, 'native-garbage.ts', [dir], { cwd: dir, nodeArgs: ['--expose-gc'] });
  const [report, exit] = await Promise.all([child.next('done', 60_000), child.exited]);
  t.same(exit, { code: 0, signal: null }, 'the child exited normally after every call');
  t.equal(report.gcRan, true, 'caches dropped without close were garbage collected in the child');

  const cases = report.cases as Record<string, { outcome: string; name?: string; code?: string; value?: unknown }>;
  const threw = (label: string, code: string) => t.match(cases[label], { outcome: 'threw', code }, `${label} throws ${code}`);
  const returned = (label: string, value: unknown) => t.match(cases[label], { outcome: 'returned', value }, `${label} returns ${String(value)}`);

  // create(): wrong types are TypeErrors; numbers out of range are ERR_TLS_SHM_INVALID
  for (const label of ['create()', 'create(strings)', 'create(items -1)', 'create(items 1.5)', 'create(items NaN)', 'create(items Infinity)', 'create(items 2^32)', 'create(bigint)', 'create(objects)']) {
    threw(label, 'ERR_INVALID_ARG_TYPE');
  }
  for (const label of ['create(items 0)', 'create(items 2^24+1)', 'create(blocksize 0)', 'create(blocksize 2^20+1)', 'create(blocks 0)', 'create(maxValueBytes > blocks × blocksize)', 'create(maxKeyLength 0)', 'create(maxKeyLength 1025)', 'create(timeout 0)', 'create(beyond 16 GiB)']) {
    threw(label, 'ERR_TLS_SHM_INVALID');
  }
  threw('create(path in a missing directory)', 'ERR_TLS_SHM_NOT_FOUND');
  t.match(cases['create(path is a directory)'], { outcome: 'threw', code: /^ERR_TLS_SHM_/ }, 'a directory as path throws a cache error');
  t.same(fs.readdirSync(dir), [], 'no temporary file is left behind by a failed create');

  // open(): every garbage handle throws a coded error
  threw('open()', 'ERR_INVALID_ARG_TYPE');
  threw('open(42)', 'ERR_INVALID_ARG_TYPE');
  for (const label of ["open('')", "open('shm:')", "open('file:')", "open('bogus')"]) threw(label, 'ERR_TLS_SHM_INVALID');
  threw("open('shm:/no-such-segment')", 'ERR_TLS_SHM_NOT_FOUND');
  threw("open('file:/dev/null')", 'ERR_TLS_SHM_NOT_A_CACHE');
  for (const label of ["open('shm:/a/b')", 'open(a 10 000 character name)', 'open(directory)']) {
    t.match(cases[label], { outcome: 'threw', code: /^ERR_TLS_SHM_/ }, `${label} throws a cache error`);
  }

  // set(): a 0-length, too long key or too long value is refused (2 = too large), not stored
  returned('set(0-length key)', 2);
  returned('set(33-byte key)', 2);
  returned('set(65-byte value)', 2);
  returned('set(valid)', 0);
  for (const label of ['set(ttl 0)', 'set(ttl -1)', 'set(ttl 2^32)', 'set(ttl NaN)', 'set(ttl 1.5)', "set(ttl '1000')", 'set(ttl missing)', 'set(string key)', 'set(Uint16Array key)', 'set(DataView value)', 'set(ArrayBuffer value)', 'set(no arguments)']) {
    threw(label, 'ERR_INVALID_ARG_TYPE');
  }

  // getInto()/setSlab(): the output area is bounds-checked
  for (const label of ['getInto(before setSlab)', 'setSlab(too small)', 'setSlab(not a buffer)', 'getInto(offset 37)', 'getInto(offset 100)', 'getInto(offset -1)', 'getInto(offset 2^32)', 'getInto(offset NaN)', 'getInto(number key)']) {
    threw(label, 'ERR_INVALID_ARG_TYPE');
  }
  returned('getInto(offset 36)', 5);
  returned('getInto(0-length key)', -1);
  returned('getInto(5000-byte key)', -1);
  returned('getInto(valid) after the garbage', 5);

  returned('delete(0-length key)', false);
  returned('delete(5000-byte key)', false);
  threw('delete(null)', 'ERR_INVALID_ARG_TYPE');
  for (const label of ['count(48, 1)', 'count(-1, 1)', 'count(0, 2^32)', 'setTicketRing(255 bytes)', 'setTicketRing(257 bytes)', 'setTicketRing(mask 16)', 'setTicketRing(mask -1)', 'setTicketRing(string)', 'rotateTicketRing(127 bytes)', 'rotateTicketRing(null)', 'acquireLease(-1)', "acquireLease('1')"]) {
    threw(label, 'ERR_INVALID_ARG_TYPE');
  }
  threw('new NativeCache()', 'ERR_INVALID_ARG_TYPE');
  threw('new NativeCache(42)', 'ERR_INVALID_ARG_TYPE');
  t.match(cases['NativeCache() without new'], { outcome: 'threw', name: 'TypeError' });

  t.same([...(report.bound as string[])].sort(), ['getInto', 'set'], 'getInto and set are plain functions bound to the object');
  returned('set detached from its object', 1);
  t.ok((report.fuzzCalls as number) >= 300 * (report.methods as string[]).length, 'every method got 300 random argument lists');
  t.equal(report.wrongThisThrew, report.wrongThisCalls, 'every call with a foreign `this` threw');
  returned('close()', 'undefined');
  returned('close() again', 'undefined');
  const afterClose = report.afterClose as Record<string, { code?: string }>;
  for (const method of report.methods as string[]) {
    t.equal(afterClose[method]?.code, 'ERR_TLS_SHM_CLOSED', `${method} after close throws ERR_TLS_SHM_CLOSED`);
  }
  const leaked = fs.readdirSync('/dev/shm').filter((name) => name.startsWith(`tls-shm-cache.${child.pid}.`));
  t.same(leaked, [], 'the child left no shm segment, not even for the caches it never closed');
});
