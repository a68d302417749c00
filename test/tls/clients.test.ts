/**
 * Mode 1 (cluster with setupSharedCache in the primary), checked with real
 * clients: every resumption path of the DESIGN.md table, across two workers.
 * Each worker runs two servers: `tickets` (Node's defaults) and `ids`
 * (SSL_OP_NO_TICKET: clients can resume only by session ID, i.e. only
 * through the shared cache).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { makeTestCertificate } from './fixtures/certificate';
import { curlUrls, nodeRequest, opensslReconnect, opensslRequest, pythonResume } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';
import type { CacheStats } from '../../src/index';

const TICKETS = 0;
const IDS = 1;

t.test('a two-worker cluster resumes sessions for every kind of client', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const cluster = await TestCluster.start(t, cert, {
    setup: { sweepInterval: 1 },
    workers: 2,
    servers: [{ namespace: 'tickets' }, { namespace: 'ids', noTicket: true }],
  });
  const stats = async () => (await cluster.command<{ stats: CacheStats }>('stats')).stats;

  t.test('openssl s_client -reconnect -no_ticket -tls1_2: session IDs from the shared cache', async (t) => {
    const before = await stats();
    const mark = cluster.handshakes.length;
    const outcomes = await opensslReconnect(cluster.ports[TICKETS], ['-no_ticket', '-tls1_2']);
    t.equal(outcomes.length, 6, 'one connection and five reconnections');
    t.equal(outcomes[0], 'New');
    t.ok(outcomes.filter((o) => o === 'Reused').length >= 5, `at least 5 of 6 reused (${outcomes.join(' ')})`);
    await cluster.waitFor(() => cluster.since(mark).length >= 6, 'six handshakes reported');
    const served = new Set(cluster.since(mark).map((h) => h.pid));
    t.ok(served.size >= 2, `served by ${served.size} workers`);
    const resumedBy = new Set(cluster.since(mark).filter((h) => h.reused).map((h) => h.pid));
    t.ok(resumedBy.size >= 2, 'both workers resumed a session the other may have created');
    const after = await stats();
    t.ok(after.handshakes['TLSv1.2'].cache - before.handshakes['TLSv1.2'].cache >= 5, 'counted as resumed from the cache');
    t.ok(after.hits - before.hits >= 5, 'each resumption was a cache hit');
  });

  t.test('openssl s_client -tls1_3 with tickets, carried by -sess_out/-sess_in, also across a rotation', async (t) => {
    const dir = fs.mkdtempSync(path.join(cert.dir, 'sess-'));
    const file = path.join(dir, 'session.pem');
    const before = await stats();
    const results = [];
    results.push(await opensslRequest(cluster.ports[TICKETS], { flags: ['-tls1_3'], sessOut: file }));
    for (let i = 0; i < 5; i++) {
      results.push(await opensslRequest(cluster.ports[TICKETS], { flags: ['-tls1_3'], sessIn: file, sessOut: file }));
    }
    t.equal(results[0].reused, false, 'the first connection is new');
    t.ok(results.every((r) => r.protocol === 'TLSv1.3'), 'all TLS 1.3');
    t.ok(results.slice(1).every((r) => r.reused), 'every later one resumed from its ticket');
    t.ok(new Set(results.map((r) => r.pid)).size >= 2, 'across workers');

    const { generation } = await cluster.command<{ generation: number }>('rotate');
    t.ok(generation > before.ticketKey.generation, 'the key rotated');
    const afterRotation = [];
    for (let i = 0; i < 4; i++) {
      afterRotation.push(await opensslRequest(cluster.ports[TICKETS], { flags: ['-tls1_3'], sessIn: file, sessOut: file }));
    }
    t.ok(afterRotation.every((r) => r.reused), 'the ticket under the former key resumes (the ring keeps it as previous), and so do the renewed ones');
    t.ok(new Set(afterRotation.map((r) => r.pid)).size >= 2, 'on both workers: both use the new ring');

    const after = await stats();
    t.ok(after.handshakes['TLSv1.3'].ticket - before.handshakes['TLSv1.3'].ticket >= 8, 'counted as resumed from a ticket');
    t.ok(after.tls13SessionsSkipped > before.tls13SessionsSkipped, 'TLS 1.3 sessions were not stored, but counted');
    t.equal(after.sets, before.sets, 'no TLS 1.3 session took a slot');
  });

  t.test('curl --tls-max 1.2 with several URLs re-uses the session ID on every worker', async (t) => {
    const mark = cluster.handshakes.length;
    const { offered, pids } = await curlUrls(cluster.ports[IDS], 6, ['--tls-max', '1.2']);
    t.equal(pids.length, 6, 'six responses');
    t.ok(offered >= 5, `curl re-used the session ID ${offered} times`);
    await cluster.waitFor(() => cluster.since(mark, IDS).length >= 6, 'six handshakes reported');
    const handshakes = cluster.since(mark, IDS);
    t.ok(handshakes.filter((h) => h.reused).length >= 5, 'the server resumed at least 5 of 6');
    t.ok(new Set(handshakes.filter((h) => h.reused).map((h) => h.pid)).size >= 2, 'on both workers');
  });

  t.test("Python's ssl module with OP_NO_TICKET and session= resumes", async (t) => {
    const results = await pythonResume(cluster.ports[TICKETS], 6);
    t.equal(results.length, 6);
    t.equal(results[0].reused, false);
    t.ok(results.every((r) => r.version === 'TLSv1.2'));
    t.ok(results.slice(1).filter((r) => r.reused).length >= 4, `reused: ${results.map((r) => r.reused).join(' ')}`);
    t.ok(new Set(results.filter((r) => r.reused).map((r) => r.pid)).size >= 2, 'on both workers');
  });

  t.test("Node's tls.connect({ session }) resumes by session ID and by ticket", async (t) => {
    const first = await nodeRequest(cluster.ports[IDS], { maxVersion: 'TLSv1.2' });
    t.equal(first.reused, false);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await nodeRequest(cluster.ports[IDS], { maxVersion: 'TLSv1.2', session: first.session }));
    t.ok(ids.every((r) => r.reused && r.protocol === 'TLSv1.2'), 'TLS 1.2 session ID resumed every time');
    t.ok(new Set(ids.map((r) => r.pid)).size >= 2, 'on both workers');

    let session = (await nodeRequest(cluster.ports[TICKETS])).session;
    const tickets = [];
    for (let i = 0; i < 4; i++) {
      const r = await nodeRequest(cluster.ports[TICKETS], { session });
      tickets.push(r);
      session = r.session ?? session;
    }
    t.ok(tickets.every((r) => r.reused && r.protocol === 'TLSv1.3'), 'TLS 1.3 ticket resumed every time');
    t.ok(new Set(tickets.map((r) => r.pid)).size >= 2, 'on both workers');
  });
});
