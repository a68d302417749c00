/**
 * Opening validates what it opens: a file that is not a cache, a cache of
 * another layout version, a cache whose size disagrees with its header, a
 * cache of another geometry, a cache others can read, and a handle that names
 * nothing each fail with their own TlsShmCacheError code, and nothing is
 * overwritten on the way.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { Test } from 'tap';
import { SharedCache, TlsShmCacheError } from '../../src/index';
import { scratchDir } from './fixtures/harness';

const geometry = { items: 16, blocksize: 64, timeout: 30 };

/** The TlsShmCacheError that `fn` throws (fails the test when it throws anything else). */
function cacheError(t: Test, fn: () => unknown): TlsShmCacheError | undefined {
  try {
    fn();
  } catch (error) {
    t.ok(error instanceof TlsShmCacheError, `a TlsShmCacheError (got ${(error as Error)?.name})`);
    return error as TlsShmCacheError;
  }
  t.fail('did not throw');
  return undefined;
}

/** A closed cache file of `geometry` holding one item; returns its path. */
function cacheFile(t: Test, name = 'cache'): string {
  const file = path.join(scratchDir(t), name);
  const cache = SharedCache.create({ ...geometry, path: file });
  cache.set(Buffer.from('k'), Buffer.from('v'));
  cache.close();
  return file;
}

t.test('a file that is not a cache', async (t) => {
  t.test('a small text file: ERR_TLS_SHM_NOT_A_CACHE', async (t) => {
    const file = path.join(scratchDir(t), 'notes.txt');
    fs.writeFileSync(file, 'just some text\n', { mode: 0o600 });
    const error = cacheError(t, () => SharedCache.open('file:' + file));
    t.match(error, { code: 'ERR_TLS_SHM_NOT_A_CACHE', message: /notes\.txt/ });
  });

  t.test('a file of cache size without the magic: ERR_TLS_SHM_NOT_A_CACHE', async (t) => {
    const file = path.join(scratchDir(t), 'zeros');
    fs.writeFileSync(file, Buffer.alloc(256 * 1024, 0x5a), { mode: 0o600 });
    const error = cacheError(t, () => SharedCache.open('file:' + file));
    t.match(error, { code: 'ERR_TLS_SHM_NOT_A_CACHE', message: /not a tls-shm-cache segment/ });
  });

  t.test('create({path}) on a file that is not a cache refuses it and leaves it untouched', async (t) => {
    const file = path.join(scratchDir(t), 'precious');
    const content = Buffer.alloc(128 * 1024, 0x42);
    fs.writeFileSync(file, content, { mode: 0o600 });
    const error = cacheError(t, () => SharedCache.create({ ...geometry, path: file }));
    t.match(error, { code: 'ERR_TLS_SHM_NOT_A_CACHE' });
    t.ok(fs.readFileSync(file).equals(content), 'the file still holds what it held');
  });

  t.test('an empty file: ERR_TLS_SHM_NOT_A_CACHE', async (t) => {
    const file = path.join(scratchDir(t), 'empty');
    fs.writeFileSync(file, '', { mode: 0o600 });
    t.match(cacheError(t, () => SharedCache.open('file:' + file)), { code: 'ERR_TLS_SHM_NOT_A_CACHE' });
  });
});

t.test('a cache file whose layout version differs: ERR_TLS_SHM_VERSION, for open and for create', async (t) => {
  const file = cacheFile(t);
  const bytes = fs.readFileSync(file);
  t.equal(bytes.subarray(0, 7).toString(), 'TLSSHMC', 'the magic comes first');
  const fd = fs.openSync(file, 'r+');
  // layout_version: the little-endian u32 right after the 8-byte magic.
  fs.writeSync(fd, Buffer.from([99, 0, 0, 0]), 0, 4, 8);
  fs.closeSync(fd);
  t.match(cacheError(t, () => SharedCache.open('file:' + file)), { code: 'ERR_TLS_SHM_VERSION', message: /layout version 99/ });
  t.match(cacheError(t, () => SharedCache.create({ ...geometry, path: file })), { code: 'ERR_TLS_SHM_VERSION' });
  t.equal(fs.statSync(file).size, bytes.length, 'the file was not recreated');
});

t.test('a truncated cache file: ERR_TLS_SHM_CORRUPT', async (t) => {
  const file = cacheFile(t);
  fs.truncateSync(file, fs.statSync(file).size - 4096);
  t.match(cacheError(t, () => SharedCache.open('file:' + file)), { code: 'ERR_TLS_SHM_CORRUPT' });
  t.match(cacheError(t, () => SharedCache.create({ ...geometry, path: file })), { code: 'ERR_TLS_SHM_CORRUPT' });
});

t.test('an extended cache file: ERR_TLS_SHM_CORRUPT', async (t) => {
  const file = cacheFile(t);
  fs.truncateSync(file, fs.statSync(file).size + 4096);
  t.match(cacheError(t, () => SharedCache.open('file:' + file)), { code: 'ERR_TLS_SHM_CORRUPT' });
});

t.test('a cache file whose header geometry is out of range: ERR_TLS_SHM_CORRUPT', async (t) => {
  const file = cacheFile(t);
  const fd = fs.openSync(file, 'r+');
  // items: the u32 after magic (8), version (4), header size (4), total bytes (8).
  fs.writeSync(fd, Buffer.from([0, 0, 0, 0]), 0, 4, 24);
  fs.closeSync(fd);
  t.match(cacheError(t, () => SharedCache.open('file:' + file)), { code: 'ERR_TLS_SHM_CORRUPT' });
});

t.test('create({path}) of an existing cache', async (t) => {
  t.test('with another geometry: ERR_TLS_SHM_GEOMETRY naming both geometries', async (t) => {
    const file = cacheFile(t);
    const error = cacheError(t, () => SharedCache.create({ ...geometry, items: 32, path: file }));
    t.match(error, { code: 'ERR_TLS_SHM_GEOMETRY', message: /items=16, blocksize=64.*asked for items=32, blocksize=64/ });
    t.match(cacheError(t, () => SharedCache.create({ ...geometry, blocksize: 128, path: file })), { code: 'ERR_TLS_SHM_GEOMETRY' });
    t.match(cacheError(t, () => SharedCache.create({ ...geometry, maxKeyLength: 32, path: file })), { code: 'ERR_TLS_SHM_GEOMETRY' });
  });

  t.test('with the same geometry: opens it, created is false, and its items survived', async (t) => {
    const file = cacheFile(t);
    const cache = SharedCache.create({ ...geometry, path: file });
    t.teardown(() => cache.close());
    t.equal(cache.created, false);
    t.equal(cache.handle, 'file:' + file);
    t.equal(cache.get(Buffer.from('k'))?.toString(), 'v');
  });

  t.test('a refused geometry leaves the cache usable for the right geometry', async (t) => {
    const file = cacheFile(t);
    cacheError(t, () => SharedCache.create({ ...geometry, items: 32, path: file }));
    const cache = SharedCache.open('file:' + file);
    t.teardown(() => cache.close());
    t.equal(cache.get(Buffer.from('k'))?.toString(), 'v');
  });
});

t.test('a relative path is resolved: the handle is absolute', async (t) => {
  const dir = scratchDir(t);
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  const cache = SharedCache.create({ ...geometry, path: 'relative-cache' });
  t.teardown(() => cache.close());
  t.equal(cache.handle, 'file:' + path.join(fs.realpathSync(dir), 'relative-cache'));
});

t.test('a new cache file is created mode 0600 whatever the umask', async (t) => {
  const file = path.join(scratchDir(t), 'cache');
  const umask = process.umask(0);
  let cache: SharedCache;
  try {
    cache = SharedCache.create({ ...geometry, path: file });
  } finally {
    process.umask(umask);
  }
  t.teardown(() => cache.close());
  t.equal(cache.created, true);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.same(fs.readdirSync(path.dirname(file)), ['cache'], 'no temporary file is left beside it');
});

t.test('a cache file others can read or write: ERR_TLS_SHM_PERMISSIONS', async (t) => {
  for (const mode of [0o644, 0o640, 0o604, 0o602]) {
    const file = cacheFile(t, `cache-${mode.toString(8)}`);
    fs.chmodSync(file, mode);
    const error = cacheError(t, () => SharedCache.open('file:' + file));
    t.match(error, { code: 'ERR_TLS_SHM_PERMISSIONS', message: /0600/ }, `mode 0${mode.toString(8)}`);
    t.match(cacheError(t, () => SharedCache.create({ ...geometry, path: file })), { code: 'ERR_TLS_SHM_PERMISSIONS' });
  }
});

t.test('a handle that names nothing: ERR_TLS_SHM_NOT_FOUND', async (t) => {
  // Handles of caches that existed and were closed by their owner: an
  // unnamed (memfd) one and a named one. The message names what is missing.
  for (const backing of ['memfd', 'shm'] as const) {
    const cache = SharedCache.create({ ...geometry, backing });
    const handle = cache.handle;
    cache.close();
    const where = handle.slice(handle.indexOf(':') + 1).replace(/^\//, '');
    t.match(cacheError(t, () => SharedCache.open(handle)), { code: 'ERR_TLS_SHM_NOT_FOUND', message: new RegExp(where.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) }, backing);
  }
  const missing = path.join(scratchDir(t), 'missing');
  t.match(cacheError(t, () => SharedCache.open('file:' + missing)), { code: 'ERR_TLS_SHM_NOT_FOUND' });
  t.notOk(fs.existsSync(missing), 'open never creates a file');
});

t.test('every open error carries the code on an Error subclass that is instanceof TlsShmCacheError', async (t) => {
  const error = cacheError(t, () => SharedCache.open('shm:/tls-shm-cache.1.0000000000000000'));
  t.ok(error instanceof Error);
  t.equal(error?.name, 'TlsShmCacheError');
  t.type(error?.message, 'string');
});
