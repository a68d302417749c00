/**
 * The binding stays safe when JavaScript takes things away under it: a slab
 * whose ArrayBuffer was detached (structuredClone / buffer.transfer()), and
 * worker threads terminated in the middle of calls.
 */
import t from 'tap';
import { SharedCache } from '../../src/index';
import { loadNative } from '../../src/core/native';
import { spawnFixture } from './fixtures/harness';

t.test('getInto refuses a slab that was detached after setSlab', async (t) => {
  const native = loadNative();
  const { cache } = native.create(16, 64, 16, 64, 32, 60);
  t.teardown(() => cache.close());
  const slab = Buffer.alloc(4096);
  cache.setSlab(slab);
  cache.set(Buffer.from('k'), Buffer.from('value'), 60_000);
  t.equal(cache.getInto(Buffer.from('k'), 0), 5, 'a hit while the slab is attached');
  structuredClone(slab.buffer, { transfer: [slab.buffer] }); // detaches it
  t.equal(slab.length, 0, 'the slab is detached');
  t.throws(() => cache.getInto(Buffer.from('k'), 0), { name: 'TypeError' }, 'no write into memory that is gone');
  const fresh = Buffer.alloc(4096);
  cache.setSlab(fresh);
  t.equal(cache.getInto(Buffer.from('k'), 0), 5, 'a new slab works');
  t.equal(fresh.subarray(0, 5).toString(), 'value');
});

t.test('SharedCache.get keeps working after a value’s buffer was transferred (Node 22+)', async (t) => {
  const transfer = (ArrayBuffer.prototype as { transfer?: () => ArrayBuffer }).transfer;
  if (typeof transfer !== 'function') {
    t.skip('ArrayBuffer.prototype.transfer needs Node 22');
    return;
  }
  const cache = SharedCache.create({ items: 16, blocksize: 64, timeout: 60 });
  t.teardown(() => cache.close());
  cache.set(Buffer.from('k'), Buffer.from('value'));
  const first = cache.get(Buffer.from('k'))!;
  transfer.call(first.buffer);
  t.equal(cache.get(Buffer.from('k'))?.toString(), 'value');
});

t.test('terminating worker threads in the middle of calls never aborts the process', async (t) => {
  const cache = SharedCache.create({ items: 64, blocksize: 64, timeout: 60 });
  t.teardown(() => cache.close());
  const child = spawnFixture(t, 'terminate-workers.ts', [JSON.stringify({ handle: cache.handle, rounds: 40, seed: 8 })]);
  const done = await child.next('done', 170_000).catch((e: Error) => ({ error: e.message }));
  t.same(done, { type: 'done', rounds: 40 }, 'all 40 terminations survived');
  const exit = await child.exited;
  t.same(exit, { code: 0, signal: null }, `the process ended normally; stderr: ${child.stderr.slice(-300)}`);
  t.ok(cache.set(Buffer.from('after'), Buffer.from('ok')), 'the cache is still writable');
});
