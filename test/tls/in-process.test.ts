/**
 * A platform without the native core (a macOS laptop): production code runs
 * unchanged. In a single process attachSharedCache falls back to an
 * in-process store that behaves the same (sessions, ticket rotation,
 * statistics) and warns once; in a cluster setupSharedCache warns that
 * sessions will not be shared, and each worker keeps its own store.
 *
 * The platform is simulated with TLS_SHM_CACHE_TEST_PLATFORM=darwin, which
 * the loader honours only with NODE_ENV=test (src/core/native.ts). This file
 * sets both before anything loads the addon, so the whole file runs as on
 * macOS; the cluster gets them through its environment.
 */
import { constants } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { attachSharedCache } from '../../src/index';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest, opensslReconnect } from './fixtures/clients';
import { TestCluster, waitUntil } from './fixtures/harness';

process.env.NODE_ENV = 'test';
process.env.TLS_SHM_CACHE_TEST_PLATFORM = 'darwin';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

const warnings: (Error & { code?: string })[] = [];
process.on('warning', (w: Error) => warnings.push(w));
const coded = (code: string) => warnings.filter((w) => w.code === code);

async function listen(options: https.ServerOptions, attach: Parameters<typeof attachSharedCache>[1]) {
  const server = https.createServer({ key: cert.key, cert: cert.cert, ...options }, (_req, res) => {
    res.setHeader('x-worker-pid', String(process.pid));
    res.setHeader('connection', 'close');
    res.end(`${process.pid}\n`);
  });
  const attachment = attachSharedCache(server, attach);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, attachment, port: (server.address() as net.AddressInfo).port };
}

const getJson = (url: string) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });

t.test('a single process: an in-process store with the same behaviour, and one warning', async (t) => {
  const ids = await listen({ secureOptions: constants.SSL_OP_NO_TICKET }, { namespace: 'ids', items: 100, stats: { port: 0 } });
  const tickets = await listen({}, { namespace: 'tickets', tickets: { rotate: 3 }, sweepInterval: 0.1 });
  t.teardown(() => {
    for (const { server, attachment } of [ids, tickets]) {
      attachment.detach();
      server.close();
    }
  });
  await new Promise((resolve) => setImmediate(resolve));

  t.equal(ids.attachment.mode, 'private');
  t.equal(ids.attachment.cache.inProcess, true, 'the store lives in this process');
  t.match(ids.attachment.cache.handle, /^inprocess:/);
  const fallback = coded('TLS_SHM_IN_PROCESS');
  t.equal(fallback.length, 1, 'one warning, though two servers attached');
  t.match(fallback[0]?.message, /needs Linux.*this is darwin.*in-process session store.*nothing is shared/);

  // Session IDs, as openssl's -reconnect offers them.
  const lines = await opensslReconnect(ids.port, ['-no_ticket', '-tls1_2']);
  t.same(lines, ['New', 'Reused', 'Reused', 'Reused', 'Reused', 'Reused'], 'TLS 1.2 session IDs resume from the store');
  const s = ids.attachment.cache.stats();
  t.equal(s.hits, 5);
  t.equal(s.sets, 1);
  t.equal(s.handshakes['TLSv1.2'].full, 1);
  t.equal(s.handshakes['TLSv1.2'].cache, 5, 'counted as resumed from the cache');

  // Ticket rotation: the store publishes keys, the follower applies them.
  const first = await nodeRequest(tickets.port);
  t.equal(first.protocol, 'TLSv1.3');
  t.equal((await nodeRequest(tickets.port, { session: first.session })).reused, true, 'a TLS 1.3 ticket resumes');
  const generation = tickets.attachment.cache.stats().ticketKey.generation;
  t.ok(generation >= 1, 'the store holds a ticket key');
  await waitUntil(() => tickets.attachment.cache.stats().ticketKey.generation > generation, 'a rotation', 20000);
  t.equal(tickets.attachment.cache.stats().ticketKey.keys, 3, 'the ring holds next, current and previous');
  t.equal((await nodeRequest(tickets.port, { session: first.session })).reused, true, 'a ticket one rotation old still resumes (the ring)');
  const fresh = await nodeRequest(tickets.port);
  t.equal((await nodeRequest(tickets.port, { session: fresh.session })).reused, true, 'tickets under the new key resume');
  const ts = tickets.attachment.cache.stats();
  t.ok(ts.handshakes['TLSv1.3'].ticket >= 2);
  t.ok(ts.tls13SessionsSkipped >= 1, 'TLS 1.3 sessions skipped as with the native store');
  t.ok(ts.sweepRuns >= 1, 'and swept');
  t.ok(ts.ticketKey.applied >= 2);

  // Statistics over HTTP, as in production.
  const url = await ids.attachment.statsUrl!;
  const doc = await getJson(`${url}/stats`);
  t.match(doc, { cache: { hits: 5 } }, '/stats serves the store\'s counters');
});

t.test('a masterless path: not used, and said so; nothing is written', async (t) => {
  const file = path.join(cert.dir, 'laptop.cache');
  const { server, attachment } = await listen({}, { namespace: 'file', path: file });
  t.teardown(() => {
    attachment.detach();
    server.close();
  });
  t.equal(attachment.cache.inProcess, true);
  t.notOk(fs.existsSync(file), 'no file was made');
});

t.test('a cluster: the primary warns that sessions are not shared; workers run on stores of their own', async (t) => {
  const config = {
    setup: { items: 100 },
    workers: 2,
    servers: [{ noTicket: true, namespace: 'ids' }, {}],
    keyPath: cert.keyPath,
    certPath: cert.certPath,
  };
  const c = await TestCluster.spawn(
    t,
    path.join(__dirname, 'fixtures', 'cluster.ts'),
    { TLS_TEST_CLUSTER: JSON.stringify(config), NODE_ENV: 'test', TLS_SHM_CACHE_TEST_PLATFORM: 'darwin' },
    4,
  );
  const notShared = c.messages.filter((m) => m.type === 'warning' && m.code === 'TLS_SHM_NOT_SHARED');
  t.equal(notShared.length, 1, 'one warning');
  t.equal(notShared[0]?.primary, true, 'from the primary');
  t.match(notShared[0]?.message, /will NOT be shared between workers/);
  t.same(c.messages.filter((m) => m.type === 'attach-error'), [], 'every worker attached (no ERR_TLS_SHM_NO_PRIMARY)');
  const attached = c.messages.filter((m) => m.type === 'attached');
  t.equal(attached.length, 4);
  t.ok(attached.every((m) => m.inProcess === true && m.mode === 'private'), 'each on an in-process store of its own');
  t.equal(new Set(attached.map((m) => m.handle)).size, 4);
  t.equal(c.messages.filter((m) => m.type === 'warning' && m.primary === false).length, 0, 'the workers add no warning of their own');

  // Node's own cluster ticket key (the first worker's, copied to the others) is left alone: tickets resume anywhere.
  const made = await nodeRequest(c.ports[1]);
  const again = await Promise.all([1, 2, 3, 4].map(() => nodeRequest(c.ports[1], { session: made.session })));
  t.ok(again.every((r) => r.reused), 'TLS 1.3 tickets resume on every worker');
  t.equal(new Set([made.pid, ...again.map((r) => r.pid)]).size, 2, 'both workers answered');
});
