/**
 * Mode 1 over the life of a cluster: the ticket key is re-applied on every
 * path that replaces it (a worker forked after a rotation, whose listen()
 * brings the first worker's old key; a setSecureContext() reload), sessions
 * outlive the workers that made them, namespaces stay apart, a session
 * expires with the cache's timeout, and a worker without a primary's cache
 * fails loudly.
 */
import t from 'tap';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest } from './fixtures/clients';
import { sleep, TestCluster } from './fixtures/harness';
import type { CacheStats } from '../../src/index';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

/** Pids of workers that reported listening on every server, in order. */
function listeningPids(cluster: TestCluster, servers: number): number[] {
  const counts = new Map<number, number>();
  for (const m of cluster.messages) if (m.type === 'listening') counts.set(m.pid as number, (counts.get(m.pid as number) ?? 0) + 1);
  return [...counts].filter(([, n]) => n >= servers).map(([pid]) => pid);
}

function exited(cluster: TestCluster, pid: number): boolean {
  return cluster.messages.some((m) => m.type === 'worker-exit' && m.pid === pid);
}

t.test('the key, the sessions and the namespaces through the life of a cluster', async (t) => {
  // 0, 1: two ticket servers in different namespaces; 2: session IDs only.
  const servers = [{ namespace: 'a' }, { namespace: 'b' }, { namespace: 'a-ids', noTicket: true }];
  const cluster = await TestCluster.start(t, cert, { setup: {}, workers: 1, servers });
  const stats = async () => (await cluster.command<{ stats: CacheStats }>('stats')).stats;
  const [first] = listeningPids(cluster, servers.length);

  t.test('a worker forked after a rotation applies the new key after listen()', async (t) => {
    const { generation } = await cluster.command<{ generation: number }>('rotate');
    t.equal(generation, 2, 'generation 1 at setup, 2 now');
    // The first worker applies generation 2 on this connection; its ticket is under it.
    const ticket = await nodeRequest(cluster.ports[0]);
    t.equal(ticket.pid, first);
    // The cluster module hands the new worker the FIRST worker's key of its
    // first listen() (generation 1): only the re-application after
    // 'listening' makes it hold generation 2.
    const { pid: second } = await cluster.command<{ pid: number }>('fork');
    await cluster.waitFor(() => listeningPids(cluster, servers.length).includes(second), 'the new worker to listen');
    await cluster.command('kill', { pid: first });
    await cluster.waitFor(() => exited(cluster, first), 'the first worker to exit');
    const resumed = await nodeRequest(cluster.ports[0], { session: ticket.session });
    t.equal(resumed.pid, second, 'served by the worker forked after the rotation');
    t.equal(resumed.reused, true, "it resumed the first worker's ticket: it holds the current key");
  });

  t.test('the key is re-applied after setSecureContext() (a certificate reload)', async (t) => {
    const { pid: third } = await cluster.command<{ pid: number }>('fork');
    await cluster.waitFor(() => listeningPids(cluster, servers.length).includes(third), 'a second worker to listen');
    const before = (await stats()).ticketKey.applied;
    let session = (await nodeRequest(cluster.ports[0])).session;
    const reload = await cluster.command<{ asked: number }>('reload');
    await cluster.waitFor(
      () => cluster.messages.filter((m) => m.type === 'reloaded' && m.id === (reload as unknown as { id: number }).id).length >= reload.asked,
      'both workers to reload',
    );
    t.ok((await stats()).ticketKey.applied >= before + 2 * servers.length, 'every reloaded server applied the key again');
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const r = await nodeRequest(cluster.ports[0], { session });
      t.equal(r.reused, true, `connection ${i + 1} after the reload resumed its ticket`);
      pids.add(r.pid);
      session = r.session ?? session;
    }
    t.equal(pids.size, 2, 'on both workers');
  });

  t.test('two namespaces on two ports do not resume each other', async (t) => {
    const a = await nodeRequest(cluster.ports[0]);
    t.equal((await nodeRequest(cluster.ports[0], { session: a.session })).reused, true, "a's ticket resumes on a");
    t.equal((await nodeRequest(cluster.ports[1], { session: a.session })).reused, false, "a's ticket does not resume on b");

    // Session IDs: the `a-ids` server's session offered to `b` is looked up under b's prefix: a miss.
    const ids = await nodeRequest(cluster.ports[2], { maxVersion: 'TLSv1.2' });
    t.equal((await nodeRequest(cluster.ports[2], { maxVersion: 'TLSv1.2', session: ids.session })).reused, true, 'resumes on its own server');
    const before = await stats();
    t.equal((await nodeRequest(cluster.ports[1], { maxVersion: 'TLSv1.2', session: ids.session })).reused, false, 'not on the other namespace');
    t.equal((await stats()).hits, before.hits, 'not even found in the cache');
  });

  t.test('sessions survive their workers: all killed and replaced, the cache lives on', async (t) => {
    const old = listeningPids(cluster, servers.length).filter((pid) => !exited(cluster, pid));
    t.equal(old.length, 2);
    const made = await nodeRequest(cluster.ports[2], { maxVersion: 'TLSv1.2' });
    for (const pid of old) await cluster.command('kill', { pid, replace: true });
    await cluster.waitFor(
      () => listeningPids(cluster, servers.length).filter((pid) => !old.includes(pid) && !exited(cluster, pid)).length >= 2,
      'two replacement workers to listen',
    );
    await cluster.waitFor(() => old.every((pid) => exited(cluster, pid)), 'the old workers to be gone');
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const r = await nodeRequest(cluster.ports[2], { maxVersion: 'TLSv1.2', session: made.session });
      t.equal(r.reused, true, `connection ${i + 1} resumed a session made by a dead worker`);
      t.notOk(old.includes(r.pid), 'served by a replacement');
      pids.add(r.pid);
    }
    t.equal(pids.size, 2, 'both replacements resumed it');
  });
});

t.test('a session older than the cache timeout is not resumed', async (t) => {
  // The servers keep Node's sessionTimeout (300 s): only the cache's 1 s can expire it.
  const cluster = await TestCluster.start(t, cert, { setup: { timeout: 1 }, workers: 2, servers: [{ noTicket: true }] });
  const made = await nodeRequest(cluster.ports[0], { maxVersion: 'TLSv1.2' });
  t.equal((await nodeRequest(cluster.ports[0], { maxVersion: 'TLSv1.2', session: made.session })).reused, true, 'resumed while fresh');
  await sleep(2200);
  const late = await nodeRequest(cluster.ports[0], { maxVersion: 'TLSv1.2', session: made.session });
  t.equal(late.reused, false, 'a full handshake once the session expired');
});

t.test('a worker whose primary did not call setupSharedCache() fails with ERR_TLS_SHM_NO_PRIMARY', async (t) => {
  const cluster = await TestCluster.start(t, cert, { setup: null, workers: 1, servers: [{}] }, { waitForListening: false });
  await cluster.waitFor(() => cluster.messages.some((m) => m.type === 'attach-error'), 'the attach error');
  const error = cluster.messages.find((m) => m.type === 'attach-error')!;
  t.equal(error.code, 'ERR_TLS_SHM_NO_PRIMARY');
  t.equal(error.name, 'TlsShmCacheError');
  t.match(error.message as string, /setupSharedCache\(\) in the primary before cluster\.fork\(\)/, 'says what to do');
  t.match(error.message as string, /path/, 'and names the masterless alternative');
  t.notOk(cluster.messages.some((m) => m.type === 'listening'), 'the worker did not serve without sharing');
});
