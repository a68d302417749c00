/**
 * Masterless (PM2-style) processes whose `items` / `blocksize` changed between
 * two deployments: a changed option must never crash-loop the service. While
 * processes of the old generation still use the file, new ones open it with
 * its existing geometry and warn once, naming the difference; once no process
 * has it open, the next one replaces it with the new geometry. Real
 * processes, real TLS clients.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type { CacheStats } from '../../src/index';
import { makeTestCertificate } from './fixtures/certificate';
import { opensslRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';
import type { MasterlessConfig } from './fixtures/masterless-server';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);
const IDS = 1;
const flags = ['-no_ticket', '-tls1_2'];

type Warning = { type: 'warning'; code?: string; message: string };

function start(t: Test, entry: 'a' | 'b', attach: MasterlessConfig['attach']): Promise<TestCluster> {
  const full: MasterlessConfig = { attach, keyPath: cert.keyPath, certPath: cert.certPath };
  return TestCluster.spawn(t, path.join(__dirname, 'fixtures', `masterless-${entry}.ts`), { TLS_TEST_MASTERLESS: JSON.stringify(full) }, 2);
}
const stats = async (p: TestCluster) => (await p.command<{ stats: CacheStats }>('stats')).stats;
const warningsOf = (p: TestCluster, code: string) =>
  p.messages.filter((m): m is Warning => m.type === 'warning' && (m as Warning).code === code);
const attachErrors = (p: TestCluster) => p.messages.filter((m) => m.type === 'attach-error');

t.test('two generations of masterless processes with different blocksize', async (t) => {
  const dir = fs.mkdtempSync(path.join(cert.dir, 'gen-'));
  const file = path.join(dir, 'sessions.cache');
  const oldGeneration = { path: file, items: 1000, blocksize: 2048 };
  const newGeneration = { path: file, items: 1000, blocksize: 4096 };
  const session = path.join(dir, 'session.pem');

  // Generation 1 runs.
  const a1 = await start(t, 'a', oldGeneration);
  const a2 = await start(t, 'b', oldGeneration);
  const made = await opensslRequest(a1.ports[IDS], { flags, sessOut: session });
  t.equal(made.reused, false);
  const inode = fs.statSync(file).ino;

  // A rolling reload starts generation 2 while generation 1 still serves.
  const b1 = await start(t, 'a', newGeneration);
  t.same(attachErrors(b1), [], 'the new process starts: no ERR_TLS_SHM_GEOMETRY, no crash loop');
  t.equal((await stats(b1)).blocksize, 2048, 'it uses the file as the running processes have it');
  const kept = warningsOf(b1, 'TLS_SHM_GEOMETRY_KEPT');
  t.equal(kept.length, 1, 'and warns once');
  t.match(kept[0]?.message, /blocksize=2048.*asked for items=1000, blocksize=4096/, 'naming the difference');
  const resumed = await opensslRequest(b1.ports[IDS], { flags, sessIn: session });
  t.equal(resumed.reused, true, 'sessions stay shared between the generations');

  // Generation 1 stops; generation 2 keeps serving, and one more of it starts.
  await a1.stop();
  await a2.stop();
  const b2 = await start(t, 'b', newGeneration);
  t.equal((await stats(b2)).blocksize, 2048, 'still in use (by b1): kept again');
  t.equal(warningsOf(b2, 'TLS_SHM_GEOMETRY_KEPT').length, 1);
  t.equal(fs.statSync(file).ino, inode, 'the file was never replaced under a running process');

  // All stop (pm2 restart, or every process crashed): the next one replaces the file.
  await b1.stop();
  await b2.stop();
  const c1 = await start(t, 'a', newGeneration);
  t.same(attachErrors(c1), []);
  t.equal((await stats(c1)).blocksize, 4096, 'nobody had the file open: replaced with the geometry asked for');
  const replaced = warningsOf(c1, 'TLS_SHM_GEOMETRY_REPLACED');
  t.equal(replaced.length, 1, 'said once');
  t.match(replaced[0]?.message, /held a cache of items=1000, blocksize=2048/);
  t.equal(warningsOf(c1, 'TLS_SHM_GEOMETRY_KEPT').length, 0);
  t.not(fs.statSync(file).ino, inode, 'a new file');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'still readable by its owner only');
  t.same(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left next to it');

  const c2 = await start(t, 'b', newGeneration);
  t.equal((await stats(c2)).attached, 2, 'the next process of the generation opens the new file');
  t.equal(c2.messages.filter((m) => m.type === 'warning').length, 0, 'without a warning');
  const again = await opensslRequest(c1.ports[IDS], { flags, sessOut: session });
  t.equal(again.reused, false, "the old file's sessions are gone with it");
  t.equal((await opensslRequest(c2.ports[IDS], { flags, sessIn: session })).reused, true, 'new sessions are shared');
});

t.test('processes of a new generation started all at once end up on one file', async (t) => {
  const dir = fs.mkdtempSync(path.join(cert.dir, 'burst-'));
  const file = path.join(dir, 'sessions.cache');
  const first = await start(t, 'a', { path: file, items: 500, blocksize: 1024 });
  await first.stop();

  // PM2 starts every instance of the new version together: they race to replace the file.
  const next = { path: file, items: 500, blocksize: 3072 };
  const group = await Promise.all([start(t, 'a', next), start(t, 'b', next), start(t, 'a', next)]);
  for (const p of group) t.same(attachErrors(p), [], 'each process started');
  const all = await Promise.all(group.map(stats));
  t.same(all.map((s) => s.blocksize), [3072, 3072, 3072], 'each has the new geometry');
  t.same(all.map((s) => s.attached), [3, 3, 3], 'and all three are attached to one and the same file');
  const session = path.join(dir, 'session.pem');
  await opensslRequest(group[0].ports[IDS], { flags, sessOut: session });
  t.equal((await opensslRequest(group[2].ports[IDS], { flags, sessIn: session })).reused, true, 'they share sessions');
  t.same(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
});
