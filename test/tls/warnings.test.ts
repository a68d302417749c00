/**
 * Misconfigurations that used to pass in silence: each now says what happened
 * and what to do, once, through process.emitWarning with a stable code (or
 * throws, for a server that is not a TLS server). Real clusters, real
 * clients.
 */
import { constants } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import express from 'express';
import t from 'tap';
import { attachSharedCache } from '../../src/index';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

type Warning = { type: 'warning'; pid: number; primary: boolean; name: string; code?: string; message: string };
const warningsOf = (c: TestCluster, code: string) =>
  c.messages.filter((m): m is Warning => m.type === 'warning' && (m as Warning).code === code);

/** Collects this process's warnings while a test runs. */
function collectWarnings(t: Parameters<Parameters<typeof t.test>[1]>[0]): (Error & { code?: string })[] {
  const seen: (Error & { code?: string })[] = [];
  const onWarning = (w: Error) => seen.push(w);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  return seen;
}

t.test('sizing options given in cluster workers that differ from the primary\'s: one warning per worker', async (t) => {
  const c = await TestCluster.start(t, cert, {
    setup: { items: 1000, blocksize: 2048 },
    workers: 2,
    // Two servers per worker, both with the worker's own idea of the sizes.
    servers: [{ attach: { items: 5000, blocksize: 2048 } }, { namespace: 'b', attach: { items: 5000 } }],
  });
  await c.waitFor(() => warningsOf(c, 'TLS_SHM_WORKER_OPTIONS_IGNORED').length >= 2, 'the warnings');
  const warnings = warningsOf(c, 'TLS_SHM_WORKER_OPTIONS_IGNORED');
  t.equal(new Set(warnings.map((w) => w.pid)).size, 2, 'each worker warned');
  t.equal(warnings.length, 2, 'once each, though both servers passed them');
  t.equal(warnings[0].name, 'TlsShmCacheWarning');
  t.match(warnings[0].message, /given items=5000.*primary's cache has items=1000.*setupSharedCache\(\) in the primary/);
  t.notMatch(warnings[0].message, /blocksize/, 'an option equal to the primary\'s is not named');
  const attached = c.messages.filter((m) => m.type === 'attached');
  t.ok(attached.every((m) => m.mode === 'cluster'), "the workers use the primary's cache all the same");
});

t.test('a process a worker spawns ignores the handle it inherits, and says so', async (t) => {
  const c = await TestCluster.start(t, cert, { setup: { items: 100 }, workers: 1, servers: [{}] });
  const primaryHandle = c.messages.find((m) => m.type === 'attached')!.handle as string;
  const { id } = await c.command<{ id: number }>('spawn-child');
  await c.waitFor(() => c.messages.some((m) => m.type === 'child' && m.id === id), "the child's report");
  const report = c.messages.find((m) => m.type === 'child' && m.id === id)! as unknown as {
    inheritedHandle: string;
    mode: string;
    handle: string;
    warnings: { code?: string; message: string }[];
  };
  t.equal(report.inheritedHandle, primaryHandle, "the child inherited the primary's handle with the worker's environment");
  t.equal(report.mode, 'private', 'but uses a cache of its own');
  t.not(report.handle, primaryHandle);
  const ignored = report.warnings.filter((w) => w.code === 'TLS_SHM_INHERITED_HANDLE_IGNORED');
  t.equal(ignored.length, 1, 'and warns once');
  t.match(ignored[0]?.message, /inherited TLS_SHM_CACHE_HANDLE.*not its parent.*same \{ path \}/);
});

t.test('setupSharedCache() after workers were forked warns; those workers have no cache', async (t) => {
  const c = await TestCluster.start(t, cert, { setup: { items: 100 }, workers: 1, forkBeforeSetup: 1, servers: [{}] });
  await c.waitFor(() => warningsOf(c, 'TLS_SHM_SETUP_AFTER_FORK').length > 0, 'the warning');
  const [warning] = warningsOf(c, 'TLS_SHM_SETUP_AFTER_FORK');
  t.equal(warning.primary, true, 'from the primary');
  t.match(warning.message, /after 1 worker\(s\) were forked.*before the first cluster\.fork\(\)/);
  await c.waitFor(() => c.messages.some((m) => m.type === 'attach-error'), 'the early worker to fail');
  t.equal(c.messages.find((m) => m.type === 'attach-error')!.code, 'ERR_TLS_SHM_NO_PRIMARY', 'the early worker is told why');
  t.equal(c.messages.filter((m) => m.type === 'attached').length, 1, 'the worker forked after setup attached');
});

t.test('sessions too large for maxValueBytes: one warning naming a maxValueBytes that fits', async (t) => {
  const warnings = collectWarnings(t);
  const server = https.createServer({ key: cert.key, cert: cert.cert, secureOptions: constants.SSL_OP_NO_TICKET }, (_req, res) => {
    res.setHeader('connection', 'close');
    res.end('ok\n');
  });
  const attachment = attachSharedCache(server, { items: 100, maxValueBytes: 64 });
  t.teardown(() => {
    attachment.detach();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < 3; i++) await nodeRequest(port, { maxVersion: 'TLSv1.2' });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(attachment.cache.stats().tooLarge, 3, 'every session was refused and counted');
  const tooLarge = warnings.filter((w) => w.code === 'TLS_SHM_SESSION_TOO_LARGE');
  t.equal(tooLarge.length, 1, 'said once');
  const match = /session of (\d+) bytes does not fit in maxValueBytes 64.*maxValueBytes: (\d+) would fit/.exec(tooLarge[0]?.message ?? '');
  t.ok(match, tooLarge[0]?.message);
  t.ok(Number(match?.[2]) >= Number(match?.[1]), 'the maxValueBytes named holds the session');
});

t.test('a server that is not a TLS server: the error says what it got and what to pass', async (t) => {
  t.throws(() => attachSharedCache(http.createServer() as unknown as tls.Server), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /got an http\.Server \(plain HTTP.*https\.createServer\(\{ key, cert \}, handler\)/,
  });
  const app = express();
  t.throws(() => attachSharedCache(app as unknown as tls.Server), {
    name: 'TypeError',
    message: /got an express \(or connect\) app.*https\.createServer\(\{ key, cert \}, app\)/,
  });
  t.throws(() => attachSharedCache(net.createServer() as unknown as tls.Server), { message: /got a net\.Server/ });
  t.throws(() => attachSharedCache(undefined as unknown as tls.Server), { message: /got undefined/ });
  t.throws(() => attachSharedCache({} as unknown as tls.Server), { message: /got a plain object/ });
});
