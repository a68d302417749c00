/**
 * The ring of session-ticket keys through a cluster's life and across
 * clusters (see ticket-ring.test.ts for the clients and rotations): a worker
 * forked after a rotation, a certificate reload (setSecureContext) and the
 * socket hand-off balancer keep resuming; two independent clusters given one
 * key file resume each other's tickets, and replacing the file rotates both.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest } from './fixtures/clients';
import { sleep, TestCluster } from './fixtures/harness';
import type { CacheStats } from '../../src/index';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

const TLS13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;

async function statsOf(cluster: TestCluster): Promise<CacheStats> {
  return (await cluster.command<{ stats: CacheStats }>('stats')).stats;
}

t.test('a worker forked after a rotation, a certificate reload and the socket hand-off balancer keep resuming', async (t) => {
  const cluster = await TestCluster.start(t, cert, { setup: {}, workers: 2, servers: [{}], balancer: true });
  const port = cluster.balancerPort;
  let session: Buffer | undefined;
  const pids = new Set<number>();
  const run = async (n: number, what: string) => {
    for (let i = 0; i < n; i++) {
      const r = await nodeRequest(port, { ...TLS13, session });
      t.ok(session === undefined || r.reused, `${what}: connection ${i + 1} resumed`);
      t.ok(r.session, `${what}: and brought a ticket`);
      session = r.session;
      pids.add(r.pid);
    }
  };
  await run(6, 'through the balancer');
  t.ok(pids.size >= 2, 'sockets handed to both workers');

  await cluster.command('rotate');
  const { pid } = await cluster.command<{ pid: number }>('fork');
  await cluster.waitFor(() => cluster.messages.some((m) => m.type === 'listening' && m.pid === pid), 'the forked worker', 60000);
  pids.clear();
  await run(9, 'after a rotation and a fork');
  t.ok(pids.has(pid), 'the worker forked after the rotation resumed tickets of the others');

  const reload = await cluster.command<{ asked: number; id: number }>('reload');
  await cluster.waitFor(
    () => cluster.messages.filter((m) => m.type === 'reloaded' && m.id === reload.id).length >= reload.asked,
    'every worker to reload',
  );
  await run(6, 'after setSecureContext()');
  t.equal((await statsOf(cluster)).ticketKey.mode, 'ring');
});

t.test('supplied keys: two independent clusters with one key file resume each other\'s tickets; replacing the file rotates both', async (t) => {
  const dir = fs.mkdtempSync(path.join(cert.dir, 'keys-'));
  const keyFile = path.join(dir, 'ticket.keys');
  const oldKey = crypto.randomBytes(80);
  const newKey = crypto.randomBytes(80);
  const writeKeys = (keys: Buffer[]) => {
    // Written beside and renamed, as configuration management does.
    const tmp = `${keyFile}.tmp`;
    fs.writeFileSync(tmp, keys.map((k) => `${k.toString('base64')}\n`).join(''), { mode: 0o600 });
    fs.renameSync(tmp, keyFile);
  };
  writeKeys([oldKey]);
  const config = { setup: { tickets: { keys: keyFile }, sweepInterval: 0.1 }, workers: 2, servers: [{ sessionIdContext: 'shared-app' }] };
  const a = await TestCluster.start(t, cert, config);
  const b = await TestCluster.start(t, cert, config);
  t.not((await statsOf(a)).ticketKey.generation, 0, 'A published the file');
  t.not((await statsOf(b)).ticketKey.generation, 0, 'B published the file');

  const fromA = await nodeRequest(a.ports[0], TLS13);
  const fromB = await nodeRequest(b.ports[0], TLS13);
  t.equal((await nodeRequest(b.ports[0], { ...TLS13, session: fromA.session })).reused, true, "B resumes A's ticket");
  t.equal((await nodeRequest(a.ports[0], { ...TLS13, session: fromB.session })).reused, true, "A resumes B's ticket");
  for (const cluster of [a, b]) {
    const s = await statsOf(cluster);
    t.equal(s.ticketKey.keys, 1, 'one supplied key in the ring');
  }

  // A new key first, the old one kept for decryption: both clusters pick the file up.
  const generations = [(await statsOf(a)).ticketKey.generation, (await statsOf(b)).ticketKey.generation];
  writeKeys([newKey, oldKey]);
  for (const [i, cluster] of [a, b].entries()) {
    for (let k = 0; k < 200 && (await statsOf(cluster)).ticketKey.generation === generations[i]; k++) await sleep(50);
    t.ok((await statsOf(cluster)).ticketKey.generation > generations[i], `cluster ${'AB'[i]} re-read the changed file`);
  }
  const renewed = await nodeRequest(b.ports[0], { ...TLS13, session: fromA.session });
  t.equal(renewed.reused, true, 'a ticket under the former key still resumes (decrypt-only now)');
  t.ok(renewed.session, 'and is renewed under the new key');

  // Only the new key: tickets under the old one no longer resume anywhere; the renewed one resumes on both.
  const generations2 = [(await statsOf(a)).ticketKey.generation, (await statsOf(b)).ticketKey.generation];
  writeKeys([newKey]);
  for (const [i, cluster] of [a, b].entries()) {
    for (let k = 0; k < 200 && (await statsOf(cluster)).ticketKey.generation === generations2[i]; k++) await sleep(50);
  }
  for (const [name, cluster] of [['A', a], ['B', b]] as const) {
    t.equal((await nodeRequest(cluster.ports[0], { ...TLS13, session: fromB.session })).reused, false, `${name}: the old key is gone`);
    t.equal((await nodeRequest(cluster.ports[0], { ...TLS13, session: renewed.session })).reused, true, `${name}: the new key resumes`);
  }
});
