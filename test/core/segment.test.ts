/**
 * The life of a shared-memory segment in /dev/shm: created 0600 under an
 * unguessable name, removed by its owner on close or exit, kept alive for
 * processes that still map it, and cleaned up by the next create when its
 * owner was SIGKILLed and nobody has it open any more.
 */
import fs from 'node:fs';
import t from 'tap';
import { SharedCache } from '../../src/index';
import { shmPath, spawnFixture, waitFor } from './fixtures/harness';

// These tests are about named segments; the default backing is memfd (see memfd.test.ts).
const geometry = { items: 16, blocksize: 64, timeout: 30, backing: 'shm' as const };
const exists = (handle: string) => fs.existsSync(shmPath(handle));

t.test('create makes a segment named after the pid with 64 random bits, mode 0600, owned by this user', async (t) => {
  const umask = process.umask(0);
  let cache: SharedCache;
  try {
    cache = SharedCache.create(geometry);
  } finally {
    process.umask(umask);
  }
  t.teardown(() => cache.close());
  t.match(cache.handle, new RegExp(`^shm:/tls-shm-cache\\.${process.pid}\\.[0-9a-f]{16}$`));
  t.equal(cache.created, true);
  const st = fs.statSync(shmPath(cache.handle));
  t.equal(st.mode & 0o777, 0o600, 'mode 0600 even with umask 0');
  t.equal(st.uid, process.getuid!());
  t.equal(st.size, cache.stats().memoryBytes, 'the segment is exactly the mapped size');
});

t.test('two creates never get the same name', async (t) => {
  const names = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const cache = SharedCache.create(geometry);
    names.add(cache.handle);
    cache.close();
  }
  t.equal(names.size, 10);
});

t.test('the owner closing the cache removes the segment from /dev/shm', async (t) => {
  const cache = SharedCache.create(geometry);
  t.ok(exists(cache.handle));
  cache.close();
  t.notOk(exists(cache.handle));
});

t.test('closing a cache opened by handle (not the owner) leaves the segment in place', async (t) => {
  const owner = SharedCache.create(geometry);
  t.teardown(() => owner.close());
  const other = SharedCache.open(owner.handle);
  other.close();
  t.ok(exists(owner.handle));
  owner.set(Buffer.from('k'), Buffer.from('v'));
  t.equal(owner.get(Buffer.from('k'))?.toString(), 'v');
});

t.test('after the owner closes, a process that has the cache open keeps using it', async (t) => {
  const owner = SharedCache.create(geometry);
  owner.set(Buffer.from('before'), Buffer.from('1'));
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ open: owner.handle })]);
  await agent.next('ready');
  owner.close();
  t.notOk(exists(owner.handle), 'the name is gone');
  agent.send({ cmd: 'get', key: 'before' });
  t.equal((await agent.next('got')).value, '1', 'what was there is still readable');
  agent.send({ cmd: 'set', key: 'after', value: '2' });
  t.equal((await agent.next('set')).ok, true);
  agent.send({ cmd: 'get', key: 'after' });
  t.equal((await agent.next('got')).value, '2', 'and writable');
  agent.send({ cmd: 'exit', code: 0 });
  t.same(await agent.exited, { code: 0, signal: null });
});

t.test('an owner process that exits without calling close removes its segment', async (t) => {
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ create: geometry })]);
  const { handle } = (await agent.next('ready')) as { handle: string };
  t.ok(exists(handle), 'there while the owner runs');
  agent.send({ cmd: 'exit', code: 0 });
  t.same(await agent.exited, { code: 0, signal: null });
  t.notOk(exists(handle), 'gone after process.exit()');
});

t.test('an owner process that dies of an uncaught exception removes its segment', async (t) => {
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ create: geometry })]);
  const { handle } = (await agent.next('ready')) as { handle: string };
  agent.send({ cmd: 'throw' });
  const exit = await agent.exited;
  t.not(exit.code, 0, 'the child failed');
  t.notOk(exists(handle));
});

t.test('an owner process whose event loop simply ends removes its segment', async (t) => {
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ create: geometry })]);
  const { handle } = (await agent.next('ready')) as { handle: string };
  agent.process.stdin!.end(); // nothing left to do: the process ends by itself
  t.same(await agent.exited, { code: 0, signal: null });
  t.notOk(exists(handle));
});

t.test('a segment left by a SIGKILLed owner is removed by the next create once nobody has it open', async (t) => {
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ create: geometry })]);
  const { handle } = (await agent.next('ready')) as { handle: string };
  agent.send({ cmd: 'set', key: 'k', value: 'left behind' });
  await agent.next('set');
  t.same(await agent.kill('SIGKILL'), { code: null, signal: 'SIGKILL' });
  t.ok(exists(handle), 'SIGKILL left the segment in /dev/shm');

  // Still open here: a create must not pull it from under us.
  const survivor = SharedCache.open(handle);
  t.equal(survivor.get(Buffer.from('k'))?.toString(), 'left behind', 'its items are readable after the owner died');
  const other = SharedCache.create(geometry);
  other.close();
  t.ok(exists(handle), 'a create leaves a dead owner’s segment alone while a process has it open');

  survivor.close();
  const next = SharedCache.create(geometry);
  next.close();
  t.notOk(exists(handle), 'the next create removed it once nobody had it open');
});

t.test('the segment of a live owner (stopped, not dead) is not removed by other creates', async (t) => {
  // The owner is alive (stopped, not killed): its segment must survive other creates.
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ create: geometry })]);
  const { handle } = (await agent.next('ready')) as { handle: string };
  agent.process.kill('SIGSTOP');
  t.teardown(() => {
    if (agent.alive) agent.process.kill('SIGCONT');
  });
  const other = SharedCache.create(geometry);
  other.close();
  t.ok(exists(handle), 'the live (stopped) owner keeps its segment');
  agent.process.kill('SIGCONT');
  agent.send({ cmd: 'close' });
  await agent.next('closed');
  t.notOk(exists(handle));
});

t.test('a process that only opened a segment does not remove it when it exits', async (t) => {
  const owner = SharedCache.create(geometry);
  t.teardown(() => owner.close());
  const agent = spawnFixture(t, 'agent.ts', [JSON.stringify({ open: owner.handle })]);
  await agent.next('ready');
  agent.send({ cmd: 'exit', code: 0 });
  await agent.exited;
  t.ok(exists(owner.handle));
  await waitFor('the attached count to drop back to 1', () => owner.stats().attached === 1);
  t.pass('the exited process no longer counts as attached');
});
