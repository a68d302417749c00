/**
 * The `remote` option in the masterless mode (mode 3, no primary): of the
 * processes that share a host's file-backed cache only the lease holder talks
 * to Redis, yet sessions made in any of them reach the other host and back.
 */
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { TestCluster } from '../tls/fixtures/harness';
import type { MasterlessConfig } from '../tls/fixtures/masterless-server';
import { opensslRequest } from '../tls/fixtures/clients';
import { connect, IDS, poll, remoteSetup, sessionFile, startHost, waitApplied } from './fixtures/hosts';
import { startRedis } from './fixtures/redis';

t.setTimeout(900_000);
const SECRET = 'a fleet secret of at least sixteen bytes';
const V12 = ['-tls1_2', '-no_ticket'];
/** The masterless fixture's servers: 0 tickets, 1 session IDs only. */
const ML_IDS = 1;

t.test('a masterless host (two processes, one file) and a cluster host share sessions; one process per host connects', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const remote = (remoteSetup(redis.url, SECRET) as { remote: Record<string, unknown> }).remote;
  const attach = { path: path.join(cert.dir, 'host-a.cache'), items: 1000, blocksize: 1024, remote } as MasterlessConfig['attach'];
  const start = (entry: 'a' | 'b') =>
    TestCluster.spawn(t as Test, path.join(__dirname, '..', 'tls', 'fixtures', `masterless-${entry}.ts`), {
      TLS_TEST_MASTERLESS: JSON.stringify({ attach, keyPath: cert.keyPath, certPath: cert.certPath }),
    }, 2);
  const a1 = await start('a');
  const a2 = await start('b');
  const b = await startHost(t, 'B', cert, remoteSetup(redis.url, SECRET));

  // Host A's processes: make sessions in each; they must resume on B.
  const files: string[] = [];
  for (const [i, p] of [a1, a2, a1, a2].entries()) {
    files.push(sessionFile(cert.dir, `ml-${i}`));
    const r = await opensslRequest(p.ports[ML_IDS], { flags: V12, sessOut: files[i] });
    t.equal(r.reused, false);
  }
  await waitApplied(b, 4, 30000);
  let resumed = 0;
  for (const f of files) if ((await connect(b, IDS, V12, f)).reused) resumed++;
  t.equal(resumed, 4, 'sessions made by either masterless process resume on the cluster host');

  // And back: sessions of B resume on both processes of A.
  const back = [sessionFile(cert.dir, 'b-0'), sessionFile(cert.dir, 'b-1')];
  for (const f of back) await connect(b, IDS, V12, undefined, f);
  await poll(async () => (await b.remote()).published >= 2);
  let resumedOnA = 0;
  for (let attempt = 0; attempt < 200 && resumedOnA < 2; attempt++) {
    resumedOnA = 0;
    if ((await opensslRequest(a1.ports[ML_IDS], { flags: V12, sessIn: back[0] })).reused) resumedOnA++;
    if ((await opensslRequest(a2.ports[ML_IDS], { flags: V12, sessIn: back[1] })).reused) resumedOnA++;
    if (resumedOnA < 2) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(resumedOnA, 2, "the cluster host's sessions resume on both masterless processes");

  // One writing and one reading connection per host: 2 for A (two processes), 2 for B, plus this CLIENT LIST.
  const clients = redis.cli(['CLIENT', 'LIST']).split('\n').filter((l) => l.includes('addr='));
  t.equal(clients.length, 5, `connections: ${clients.length} (2 per host + redis-cli)`);
});
