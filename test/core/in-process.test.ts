/**
 * The in-process store (src/core/in-process.ts) behind SharedCache behaves
 * as the native core does for what the TLS layer uses: the same operations
 * are run on a native cache and an in-process one, and their answers and
 * counters compared.
 */
import t from 'tap';
import { SharedCache } from '../../src/index';
import type { CacheStats } from '../../src/index';

const geometry = { items: 4, blocksize: 32, timeout: 60, maxKeyLength: 8 };
const k = (s: string) => Buffer.from(s);

/** Runs one script of operations on `cache` and returns what each answered. */
async function script(cache: SharedCache): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push(cache.get(k('a')));
  out.push(cache.set(k('a'), k('one')));
  out.push(cache.get(k('a'))?.toString());
  out.push(cache.set(k('a'), k('two')), cache.get(k('a'))?.toString());
  out.push(cache.set(k('too-long-key'), k('x')), 'key refused');
  out.push(cache.set(k('b'), Buffer.alloc(33)), 'value refused');
  out.push(cache.set(k('b'), Buffer.alloc(32, 1)), cache.get(k('b'))?.length);
  out.push(cache.delete(k('b')), cache.delete(k('b')));
  // Short-lived item: expired on read.
  out.push(cache.set(k('short'), k('x'), 0.05));
  await new Promise((resolve) => setTimeout(resolve, 120));
  out.push(cache.get(k('short')));
  // Fill past capacity: the item closest to expiry is evicted, nothing refused.
  out.push(cache.set(k('c'), k('c'), 1), cache.set(k('d'), k('d'), 50), cache.set(k('e'), k('e'), 50), cache.set(k('f'), k('f'), 50));
  out.push(cache.get(k('c')), cache.get(k('a'))?.toString(), cache.get(k('f'))?.toString());
  out.push(cache.sweep());
  // The ticket key ring: generations, rotations moving next -> current -> previous, the ring itself back.
  out.push(cache.ticketKeyGeneration(), cache.ticketRing());
  const fresh = (fill: number) => Buffer.concat([Buffer.alloc(64, fill), Buffer.alloc(64, fill + 1)]);
  out.push(cache.rotateTicketRing(fresh(1)), cache.ticketRing()?.present, cache.ticketRing()?.ring.toString('hex'));
  out.push(cache.rotateTicketRing(fresh(3)), cache.ticketRing()?.present, cache.ticketRing()?.ring.toString('hex'));
  out.push(cache.setTicketRing(Buffer.alloc(256, 9), 0b0010), cache.ticketRing()?.present, cache.ticketRing()?.ring.toString('hex'));
  out.push(cache.acquireLease(15000), cache.stats().maintainerPid === process.pid);
  cache.releaseLease();
  out.push(cache.stats().maintainerPid);
  cache.count(16, 3);
  return out;
}

const counters = (s: CacheStats) => ({
  items: s.items,
  blocksize: s.blocksize,
  maxKeyLength: s.maxKeyLength,
  timeout: s.timeout,
  used: s.used,
  attached: s.attached,
  hits: s.hits,
  misses: s.misses,
  sets: s.sets,
  replaced: s.replaced,
  deletes: s.deletes,
  evictions: s.evictions,
  expired: s.expired,
  tooLarge: s.tooLarge,
  errors: s.errors,
  sweepRuns: s.sweepRuns,
  generation: s.ticketKey.generation,
  handshakes: s.handshakes,
});

t.test('the same operations give the same answers and counters as the native core', async (t) => {
  const native = SharedCache.create(geometry);
  const inProcess = SharedCache.createInProcess(geometry);
  t.teardown(() => {
    native.close();
    inProcess.close();
  });
  t.equal(native.inProcess, false);
  t.equal(inProcess.inProcess, true);
  t.match(inProcess.handle, /^inprocess:/);
  const [a, b] = [await script(native), await script(inProcess)];
  t.same(b, a, 'every answer equal');
  t.same(counters(inProcess.stats()), counters(native.stats()), 'every counter equal');
  t.equal(inProcess.stats().handshakes['TLSv1'].full, 3, 'TLS-layer counters too');
});

t.test('an in-process cache cannot be opened by handle, and refuses what SharedCache refuses', async (t) => {
  const cache = SharedCache.createInProcess(geometry);
  t.teardown(() => cache.close());
  t.throws(() => SharedCache.open(cache.handle), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => SharedCache.createInProcess({ ...geometry, items: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => SharedCache.createInProcess({ ...geometry, itemz: 1 } as never), { code: 'ERR_INVALID_ARG_TYPE', message: /did you mean 'items'/ });
  cache.close();
  t.throws(() => cache.get(k('a')), { code: 'ERR_TLS_SHM_CLOSED' });
});
