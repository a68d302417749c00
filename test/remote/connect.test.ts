/**
 * The `remote` option in one process (mode 2, a private cache that maintains
 * itself): bad options first, the missing package, then connecting with an
 * ACL user, over TLS with a test CA, and to a Redis that is not there yet.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { attachSharedCache, setupSharedCache } from '../../src/index';
import type { RemoteSection, StatsDocument } from '../../src/index';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { nodeRequest } from '../tls/fixtures/clients';
import { poll } from './fixtures/hosts';
import { formatSnapshot } from '../../src/stats/render';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => unknown;
import { freePort, startRedis, TestRedis } from './fixtures/redis';

const SECRET = 'a fleet secret of at least sixteen bytes';
const cert = makeTestCertificate();
t.teardown(cert.cleanup);

t.test('setupSharedCache refuses bad remote options, naming them', async (t) => {
  const bad: [unknown, RegExp, string][] = [
    [{ url: 'http://127.0.0.1:6379', secret: SECRET }, /remote.url must start with redis:\/\/ or rediss:\/\//, 'ERR_INVALID_ARG_TYPE'],
    [{ url: 'redis://127.0.0.1:6379', secret: 'short' }, /remote.secret must be at least 16 bytes, got 5/, 'ERR_OUT_OF_RANGE'],
    [{ url: 'redis://127.0.0.1:6379', secret: [SECRET, 'short'] }, /remote.secret\[1\] must be at least 16 bytes/, 'ERR_OUT_OF_RANGE'],
    [{ url: 'redis://127.0.0.1:6379', secret: [] }, /remote.secret must not be an empty list/, 'ERR_OUT_OF_RANGE'],
    [{ url: 'redis://127.0.0.1:6379', secret: 42 }, /remote.secret must be a string or a Buffer/, 'ERR_INVALID_ARG_TYPE'],
    [{ url: 'redis://127.0.0.1:6379', secret: SECRET, maxlength: 10 }, /unknown option 'maxlength' \(did you mean 'maxLength'\?\)/, 'ERR_INVALID_ARG_TYPE'],
    [{ url: 'redis://127.0.0.1:6379', secret: SECRET, maxLength: 10 }, /remote.maxLength must be an integer from 100/, 'ERR_OUT_OF_RANGE'],
    [{ url: 'redis://127.0.0.1:6379', secret: SECRET, publishInterval: 0 }, /remote.publishInterval must be from 0.005/, 'ERR_OUT_OF_RANGE'],
    [{ url: 'redis://127.0.0.1:6379', secret: SECRET, client: 'x' }, /remote.client must be an object/, 'ERR_INVALID_ARG_TYPE'],
    [{ secret: SECRET }, /remote.url must be a non-empty string/, 'ERR_INVALID_ARG_TYPE'],
    [{ secret: SECRET, sentinel: { name: 'm' } }, /remote.sentinel needs name .* and sentinelRootNodes/, 'ERR_INVALID_ARG_TYPE'],
    ['redis://127.0.0.1:6379', /remote: options must be an object/, 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [remote, message, code] of bad) {
    t.throws(() => setupSharedCache({ remote } as never), { message, code }, JSON.stringify(remote));
  }
  // Nothing was left behind: a correct setup still works afterwards.
  const ok = setupSharedCache({ remote: { url: `redis://127.0.0.1:${await freePort()}`, secret: SECRET } });
  process.removeAllListeners('warning');
  await ok.close();
});

t.test("without the 'redis' package installed, the error names it", async (t) => {
  // A child in which require('redis') fails the way it does when the package is not installed.
  const preload = path.join(cert.dir, 'no-redis.js');
  fs.writeFileSync(
    preload,
    `const M = require('module'); const r = M._resolveFilename;
     M._resolveFilename = function (req, ...rest) { if (req === 'redis') { const e = new Error("Cannot find module 'redis'"); e.code = 'MODULE_NOT_FOUND'; throw e; } return r.call(this, req, ...rest); };`,
  );
  const script = `
    const { setupSharedCache } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'index.js'))});
    try { setupSharedCache({ remote: { url: 'redis://127.0.0.1:1', secret: ${JSON.stringify(SECRET)} } }); console.log('no error'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, name: e.name })); }
    setupSharedCache({}); console.log('without remote: fine');`;
  const r = spawnSync(process.execPath, ['-r', preload, '-e', script], { encoding: 'utf8' });
  const [first, second] = r.stdout.trim().split('\n');
  const error = JSON.parse(first);
  t.equal(error.code, 'ERR_TLS_SHM_REMOTE_CLIENT');
  t.match(error.message, /needs the 'redis' package .*npm install redis/);
  t.equal(second, 'without remote: fine', 'the package is loaded only when remote is given');
});

async function remoteOf(url: string): Promise<RemoteSection | undefined> {
  const doc = (await fetch(`${url}/stats`).then((r) => r.json())) as StatsDocument;
  return doc.remote;
}

/** A single-process server attached with `remote`; returns its stats URL and a TLS 1.2 client. */
async function singleHost(t: Test, remote: Record<string, unknown>) {
  // SSL_OP_NO_TICKET: TLS 1.2 sessions go to the session cache (OpenSSL does not cache sessions it issued a ticket for).
  const server = tls.createServer({ key: cert.key, cert: cert.cert, secureOptions: constants.SSL_OP_NO_TICKET }, (socket) =>
    socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n'),
  );
  const attachment = attachSharedCache(server, { stats: { port: 0 }, remote: remote as never });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    attachment.detach();
    // Not waiting for 'close' (see test/tls/single-process.test.ts).
    void server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const statsUrl = await attachment.statsUrl!;
  return { statsUrl, handshake: () => nodeRequest(port, { maxVersion: 'TLSv1.2' }) };
}

async function checkPublishes(t: Test, redis: TestRedis, remote: Record<string, unknown>) {
  const host = await singleHost(t, remote);
  let last: RemoteSection | undefined;
  await poll(async () => (last = await remoteOf(host.statsUrl))?.connected === true, 30000).catch(() => {
    throw new Error(`never connected: ${JSON.stringify(last)}`);
  });
  for (let i = 0; i < 3; i++) await host.handshake();
  await poll(async () => ((await remoteOf(host.statsUrl))?.published ?? 0) >= 3, 30000);
  // Three session entries (and the ring's change notice) are in the stream.
  t.ok(Number(redis.cli(['XLEN', 'tls-shm-cache:sessions']).trim()) >= 3, 'the entries are in Redis');
  await poll(async () => redis.cli(['EXISTS', 'tls-shm-cache:ring']).trim() === '1', 30000);
  const r = (await remoteOf(host.statsUrl))!;
  t.ok(r.published >= 3, `published ${r.published}`);
  t.equal(r.ring.source, 'redis');
  // The same figures in /metrics (parsed by a real Prometheus parser) and the CLI's table.
  const metrics = parsePrometheus(await fetch(`${host.statsUrl}/metrics`).then((res) => res.text())) as { name: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
  const family = (name: string) => metrics.find((m) => m.name === name)?.metrics ?? [];
  t.equal(family('tls_shm_cache_remote_connected')[0]?.value, '1', 'metrics: connected');
  t.ok(Number(family('tls_shm_cache_remote_sessions_total').find((m) => m.labels?.what === 'published')?.value) >= 3, 'metrics: published');
  t.equal(family('tls_shm_cache_remote_ring_generation')[0]?.labels?.source, 'redis', 'metrics: ring source');
  const doc = (await fetch(`${host.statsUrl}/stats`).then((res) => res.json())) as StatsDocument;
  const table = formatSnapshot(doc, host.statsUrl);
  t.match(table, /remote\s+connected as [0-9a-f]{16}/, 'the stats table shows the remote block');
  t.match(table, /ticket ring\s+redis, generation \d+ \(ring\)/);
}

t.test('AUTH with an ACL user (the default user off)', async (t) => {
  const redis = await startRedis(t, { aclUser: { name: 'tlscache', password: 'p4ss-w0rd-for-test' } });
  t.equal(spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'PING'], { encoding: 'utf8' }).stdout.trim().startsWith('PONG'), false, 'anonymous access is refused');
  await checkPublishes(t, redis, { url: redis.url, secret: SECRET, publishInterval: 0.02, pollInterval: 0.2 });
});

t.test('TLS to Redis: rediss:// with a test CA', async (t) => {
  const redis = await startRedis(t, { tls: true });
  await checkPublishes(t, redis, {
    url: redis.url.replace('127.0.0.1', 'localhost'),
    secret: SECRET,
    client: { socket: { ca: fs.readFileSync(redis.tlsFiles!.ca) } },
    publishInterval: 0.02,
    pollInterval: 0.2,
  });
});

t.test('Redis Sentinel: the master is found through a sentinel (no url)', async (t) => {
  const redis = await startRedis(t);
  const port = await freePort();
  const conf = path.join(redis.dir, 'sentinel.conf');
  fs.writeFileSync(conf, `port ${port}\nbind 127.0.0.1\nsentinel monitor tlscache 127.0.0.1 ${redis.port} 1\n`);
  const sentinel = (await import('node:child_process')).spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  t.teardown(() => void sentinel.kill('SIGKILL'));
  await poll(async () => spawnSync('redis-cli', ['-p', String(port), 'SENTINEL', 'get-master-addr-by-name', 'tlscache'], { encoding: 'utf8' }).stdout.includes(String(redis.port)));
  await checkPublishes(t, redis, {
    sentinel: { name: 'tlscache', sentinelRootNodes: [{ host: '127.0.0.1', port }] },
    secret: SECRET,
    publishInterval: 0.02,
    pollInterval: 0.2,
  });
});

t.test('Redis unreachable at start: local service, one warning, connected once it comes', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'TlsShmCacheWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const port = await freePort();
  const host = await singleHost(t, { url: `redis://127.0.0.1:${port}`, secret: SECRET, publishInterval: 0.02, pollInterval: 0.2 });
  let failed = 0;
  for (let i = 0; i < 5; i++) {
    const r = await host.handshake().catch(() => undefined);
    if (!r) failed++;
  }
  t.equal(failed, 0, 'handshakes are served without Redis');
  await poll(async () => ((await remoteOf(host.statsUrl))?.disconnects ?? 0) >= 4, 30000);
  t.equal(warnings.filter((w) => /unreachable/.test(w)).length, 1, 'one warning, not one per attempt');
  t.equal((await remoteOf(host.statsUrl))?.connected, false);
  // Redis comes up on that port: the backoff finds it.
  const redis = await startRedisOn(t, port);
  await poll(async () => (await remoteOf(host.statsUrl))?.connected === true, 30000);
  await poll(async () => ((await remoteOf(host.statsUrl))?.published ?? 0) >= 5, 30000);
  t.ok(Number(redis.cli(['XLEN', 'tls-shm-cache:sessions']).trim()) >= 5, 'the entries are in Redis');
  t.pass('the sessions made while Redis was away are published once it is there');
});

async function startRedisOn(t: Test, port: number): Promise<{ cli(args: string[]): string }> {
  const child = (await import('node:child_process')).spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  const cli = (args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout;
  await poll(async () => cli(['PING']).trim() === 'PONG');
  return { cli };
}
