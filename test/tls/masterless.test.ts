/**
 * Mode 3: no cooperating primary (PM2 cluster mode, processes started by a
 * supervisor). Every process calls attachSharedCache(server, { path }); the
 * first creates the file, the others open it; one at a time holds the
 * maintenance lease, and another takes over when it dies. The processes are
 * started from two different entry scripts, so Node's default session ID
 * contexts differ: they resume each other's sessions only because
 * attachSharedCache makes the context equal.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { attachSharedCache } from '../../src/index';
import type { CacheStats } from '../../src/index';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest, opensslRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';
import type { MasterlessConfig } from './fixtures/masterless-server';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);
const TICKETS = 0;
const IDS = 1;

function start(t: Test, entry: 'a' | 'b', config: Omit<MasterlessConfig, 'keyPath' | 'certPath'>): Promise<TestCluster> {
  const full: MasterlessConfig = { ...config, keyPath: cert.keyPath, certPath: cert.certPath };
  return TestCluster.spawn(t, path.join(__dirname, 'fixtures', `masterless-${entry}.ts`), { TLS_TEST_MASTERLESS: JSON.stringify(full) }, 2);
}

const portOf = (p: TestCluster, server: number) => p.ports[server];
const stats = async (p: TestCluster) => (await p.command<{ stats: CacheStats }>('stats')).stats;
const identity = (p: TestCluster) =>
  p.command<{ argv: string[]; nodeDefaultContext: string; context: string; handle: string }>('identity');

t.test('two processes from different entry scripts share one file-backed cache', async (t) => {
  const file = path.join(cert.dir, 'sessions.cache');
  const attach = { path: file, items: 1000, blocksize: 2048 };
  const a = await start(t, 'a', { attach });
  const b = await start(t, 'b', { attach });
  t.ok(fs.existsSync(file), 'the first process created the file');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'readable by its owner only: it holds session secrets and the ticket key');

  const [ia, ib] = [await identity(a), await identity(b)];
  t.equal(ia.handle, ib.handle, 'both opened the same cache');
  t.not(ia.argv[0], ib.argv[0], 'started from different scripts');
  t.not(ia.nodeDefaultContext, ib.nodeDefaultContext, "so Node's default session ID contexts differ");
  t.equal(ia.context, ib.context, 'but the servers run with the same one');

  const s = await stats(a);
  t.ok([a.child.pid, b.child.pid].includes(s.maintainerPid), 'one of them holds the maintenance lease');
  t.ok(s.ticketKey.generation >= 1, 'and published the ticket key');

  t.test('a session ID made in A resumes in B and back (openssl -no_ticket -tls1_2)', async (t) => {
    const dir = fs.mkdtempSync(path.join(cert.dir, 'sess-'));
    const file = path.join(dir, 'session.pem');
    const flags = ['-no_ticket', '-tls1_2'];
    const made = await opensslRequest(portOf(a, IDS), { flags, sessOut: file });
    t.equal(made.reused, false);
    t.equal(made.pid, a.child.pid);
    const inB = await opensslRequest(portOf(b, IDS), { flags, sessIn: file });
    t.equal(inB.pid, b.child.pid);
    t.equal(inB.reused, true, 'B resumed the session A created');
    const backInA = await opensslRequest(portOf(a, IDS), { flags, sessIn: file });
    t.equal(backInA.reused, true, 'and A still does');
  });

  t.test('a TLS 1.3 ticket issued by A resumes in B: both hold the lease holder\'s key', async (t) => {
    const made = await nodeRequest(portOf(a, TICKETS));
    const inB = await nodeRequest(portOf(b, TICKETS), { session: made.session });
    t.equal(inB.protocol, 'TLSv1.3');
    t.equal(inB.pid, b.child.pid);
    t.equal(inB.reused, true);
  });

  t.test("a process with its own sessionIdContext finds the session but OpenSSL refuses it", async (t) => {
    const c = await start(t, 'a', { attach, sessionIdContext: 'another-application' });
    const made = await nodeRequest(portOf(a, IDS), { maxVersion: 'TLSv1.2' });
    const before = await stats(a);
    const inC = await nodeRequest(portOf(c, IDS), { maxVersion: 'TLSv1.2', session: made.session });
    t.equal(inC.pid, c.child.pid);
    t.equal((await stats(a)).hits, before.hits + 1, 'the cache returned the session');
    t.equal(inC.reused, false, 'but a different session ID context refuses it: the context is what this test measures');
    await c.stop();
  });

  t.test('another geometry than the file in use is used as the file has it, with one warning', async (t) => {
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    t.teardown(() => process.off('warning', onWarning));
    const server = tls.createServer({ key: cert.key, cert: cert.cert });
    const attachment = attachSharedCache(server, { path: file, items: 999, blocksize: 2048 });
    t.teardown(() => attachment.detach());
    t.equal(attachment.cache.stats().items, 1000, "the processes using it keep it: the file's own geometry");
    await new Promise((resolve) => setImmediate(resolve));
    const kept = warnings.filter((w) => w.code === 'TLS_SHM_GEOMETRY_KEPT');
    t.equal(kept.length, 1, 'one warning');
    t.match(kept[0]?.message, /items=1000, blocksize=2048.*asked for items=999/, 'naming the difference');
  });
});

t.test('the maintenance lease is taken over when its holder dies', async (t) => {
  const file = path.join(cert.dir, 'lease.cache');
  const attach = { path: file, items: 100, sweepInterval: 0.2, tickets: { rotate: 1 } };
  const a = await start(t, 'a', { attach });
  const b = await start(t, 'b', { attach });
  const first = await stats(a);
  const holder = first.maintainerPid === a.child.pid ? a : b;
  const survivor = holder === a ? b : a;
  t.equal(first.maintainerPid, holder.child.pid);

  const before = await stats(survivor);
  holder.child.kill('SIGKILL');
  await survivor.waitFor(() => holder.exited, 'the holder to die');

  // Bounded: the survivor's next maintenance tick (0.2 s) takes the lease of a dead pid.
  let now = before;
  for (let i = 0; i < 300 && !(now.maintainerPid === survivor.child.pid && now.ticketKey.generation >= before.ticketKey.generation + 2); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    now = await stats(survivor);
  }
  t.equal(now.maintainerPid, survivor.child.pid, 'the survivor holds the lease');
  t.ok(now.ticketKey.generation >= before.ticketKey.generation + 2, 'and keeps rotating the key');
  t.ok(now.sweepRuns > before.sweepRuns, 'and sweeping');
});
