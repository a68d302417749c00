/**
 * An unnamed segment (memfd_create) opened by other processes through its
 * creator's /proc entry: it works like a shm segment, leaves nothing in
 * /dev/shm, and is gone with the last process that held it, however the
 * processes die (issue 8, point 19; the cluster primary does not create one
 * yet, see the README).
 */
import fs from 'node:fs';
import t from 'tap';
import { SharedCache } from '../../src/index';
import { loadNative } from '../../src/core/native';
import { spawnFixture } from './fixtures/harness';

t.test('a memfd segment is shared through /proc and leaves nothing in /dev/shm', async (t) => {
  // Other processes on this machine may come and go in /dev/shm: look only
  // for entries a segment of this process would have (named after its pid).
  const mine = () => fs.readdirSync('/dev/shm').filter((n) => n.startsWith(`tls-shm-cache.${process.pid}.`));
  const native = loadNative();
  const cache = native.createMemfd(64, 256, 64, 256, 32, 60);
  t.teardown(() => cache.close());
  const handle = cache.stats().handle as string;
  t.match(handle, new RegExp(`^memfd:/proc/${process.pid}/fd/\\d+$`));
  cache.set(Buffer.from('from-parent'), Buffer.from('hello'), 60_000);

  // Two generations of children: the second starts after the first was SIGKILLed.
  for (const generation of [1, 2]) {
    const child = spawnFixture(t, 'agent.ts', [JSON.stringify({ open: handle })]);
    t.match(await child.next('ready'), { handle, created: false });
    child.send({ cmd: 'get', key: 'from-parent' });
    t.equal((await child.next('got')).value, 'hello', `generation ${generation} reads the parent's value`);
    child.send({ cmd: 'set', key: `gen${generation}`, value: 'x' });
    await child.next('set');
    t.equal((await child.kill('SIGKILL')).signal, 'SIGKILL');
  }
  const reader = SharedCache.open(handle);
  t.equal(reader.get(Buffer.from('gen2'))?.toString(), 'x');
  reader.close();
  t.same(mine(), [], 'nothing was created in /dev/shm');
});
