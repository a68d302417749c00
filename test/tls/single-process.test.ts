/**
 * The API in one process: bad input first, then mode 2 (a single process
 * with a private cache), setupSharedCache's own behaviour (the environment,
 * rotation on its timer, tickets: false, close), and the DER reader.
 */
import cluster from 'node:cluster';
import { constants } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { attachSharedCache, setupSharedCache } from '../../src/index';
import { readSession } from '../../src/tls/session-der';
import { makeClientCertificate, makeTestCertificate } from './fixtures/certificate';
import { nodeRequest, opensslReconnect } from './fixtures/clients';
import { waitUntil } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);
const HANDLE_ENV = 'TLS_SHM_CACHE_HANDLE';

function newServer(options: tls.TlsOptions = {}): tls.Server {
  return tls.createServer({ key: cert.key, cert: cert.cert, ...options }, (socket) => {
    socket.end(`HTTP/1.1 200 OK\r\nx-worker-pid: ${process.pid}\r\nconnection: close\r\n\r\n`);
  });
}

async function listen(t: Test, server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Not waiting for 'close': a server can count a connection whose client
  // (s_client -reconnect) vanished without a close being seen, with or without this library.
  t.teardown(() => void server.close());
  return (server.address() as net.AddressInfo).port;
}

/** Whether the segment behind a handle still exists: an unnamed (memfd) one through its /proc entry. */
function segmentExists(handle: string): boolean {
  if (handle.startsWith('shm:/')) return fs.existsSync(`/dev/shm/${handle.slice('shm:/'.length)}`);
  try {
    return fs.readlinkSync(handle.slice('memfd:'.length)).startsWith('/memfd:tls-shm-cache');
  } catch {
    return false;
  }
}

t.test('setupSharedCache refuses bad options, naming them', async (t) => {
  const bad: [unknown, RegExp, string][] = [
    [{ item: 10 }, /unknown option 'item' \(did you mean 'items'\?\)/, 'ERR_INVALID_ARG_TYPE'],
    [{ sweepinterval: 1 }, /did you mean 'sweepInterval'/, 'ERR_INVALID_ARG_TYPE'],
    [{ ticket: false }, /did you mean 'tickets'/, 'ERR_INVALID_ARG_TYPE'],
    ['big', /options must be an object/, 'ERR_INVALID_ARG_TYPE'],
    [{ items: 0 }, /items must be an integer from 1/, 'ERR_OUT_OF_RANGE'],
    [{ items: '100' }, /items must be a number/, 'ERR_INVALID_ARG_TYPE'],
    [{ blocksize: 8 }, /blocksize must be an integer from 16/, 'ERR_OUT_OF_RANGE'],
    [{ timeout: 1.5 }, /timeout must be an integer/, 'ERR_OUT_OF_RANGE'],
    [{ sweepInterval: 0 }, /sweepInterval must be from 0.01/, 'ERR_OUT_OF_RANGE'],
    [{ tickets: true }, /tickets must be \{ rotate: seconds \}, \{ keys \} or false/, 'ERR_INVALID_ARG_TYPE'],
    [{ tickets: { rotate: 0 } }, /tickets.rotate must be from 1/, 'ERR_OUT_OF_RANGE'],
    [{ tickets: { Rotate: 60 } }, /unknown option 'Rotate' \(did you mean 'rotate'\?\)/, 'ERR_INVALID_ARG_TYPE'],
    [{ stats: { port: 70000 } }, /stats.port must be an integer from 0 to 65535/, 'ERR_OUT_OF_RANGE'],
    [{ stats: { prot: 9090 } }, /did you mean 'port'/, 'ERR_INVALID_ARG_TYPE'],
    [{ stats: { host: '' } }, /stats.host must be a non-empty string/, 'ERR_INVALID_ARG_TYPE'],
    [{ path: 42 }, /path must be a non-empty string/, 'ERR_INVALID_ARG_TYPE'],
    [{ items: 1 << 24, blocksize: 1 << 20, blocks: 1 << 14 }, /GiB/, 'ERR_OUT_OF_RANGE'],
    [{ items: 1000, memory: 1 << 24 }, /setupSharedCache: give items or memory, not both/, 'ERR_INVALID_ARG_TYPE'],
    [{ memory: 0 }, /setupSharedCache: memory must be an integer from 1/, 'ERR_OUT_OF_RANGE'],
    [{ memory: 65536 }, /setupSharedCache: memory: 65536 bytes cannot hold one item/, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [options, message, code] of bad) {
    t.throws(() => setupSharedCache(options as never), { message, code }, JSON.stringify(options));
  }
  t.equal(process.env[HANDLE_ENV], undefined, 'nothing was published');
});

t.test('attachSharedCache refuses bad input, naming it', async (t) => {
  const server = newServer();
  t.throws(() => attachSharedCache(net.createServer() as never), { code: 'ERR_INVALID_ARG_TYPE', message: /must be a tls.Server/ });
  t.throws(() => attachSharedCache(http.createServer() as never), { code: 'ERR_INVALID_ARG_TYPE' }, 'plain HTTP has no sessions');
  t.throws(() => attachSharedCache({} as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => attachSharedCache(server, { namepsace: 'x' } as never), { message: /did you mean 'namespace'/ });
  t.throws(() => attachSharedCache(server, { namespace: '' }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => attachSharedCache(server, { namespace: 7 } as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => attachSharedCache(server, { namespace: 'x'.repeat(32) }), { code: 'ERR_OUT_OF_RANGE', message: /at most 31 bytes/ });
  t.throws(() => attachSharedCache(server, { namespace: 'a\uD800' }), { code: 'ERR_INVALID_ARG_TYPE', message: /well-formed Unicode/ }, 'a lone surrogate (it would share keys with a\\uDC00)');
  t.throws(() => attachSharedCache(server, { items: 10, memory: 1 << 24 }), { code: 'ERR_INVALID_ARG_TYPE', message: /give items or memory, not both/ });
  t.throws(() => attachSharedCache(server, { items: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => attachSharedCache(server, { tickets: { rotate: 'daily' } } as never), { code: 'ERR_INVALID_ARG_TYPE' });

  const other = newServer();
  other.on('resumeSession', (_id, cb) => cb(null, null));
  t.throws(() => attachSharedCache(other), { message: /already has a 'resumeSession' listener/ }, 'another store is refused');
  t.equal(server.listenerCount('newSession'), 0, 'no failed call left a listener behind');
});

t.test('one namespace per process, one attachment per server', async (t) => {
  const first = newServer();
  const second = newServer();
  const a = attachSharedCache(first, { namespace: 'shop', items: 10 });
  t.throws(() => attachSharedCache(second, { namespace: 'shop', items: 10 }), { code: 'ERR_TLS_SHM_NAMESPACE_IN_USE', name: 'TlsShmCacheError' });
  t.throws(() => attachSharedCache(first, { namespace: 'other' }), { message: /already attached/ });
  a.detach();
  const b = attachSharedCache(second, { namespace: 'shop', items: 10 });
  t.pass('the namespace is free again after detach()');
  b.detach();
});

t.test('mode 2: a single process gets a private cache from items, blocksize, timeout', async (t) => {
  t.equal(cluster.isPrimary, true);
  const server = newServer();
  const attachment = attachSharedCache(server, { items: 100, blocksize: 512, timeout: 60 });
  t.equal(attachment.mode, 'private');
  t.equal(attachment.namespace, 'default');
  const s = attachment.cache.stats();
  t.same([s.items, s.blocksize, s.timeout], [100, 512, 60], 'the cache has the asked geometry');
  const handle = attachment.cache.handle;
  t.match(handle, /^memfd:/, 'an unnamed segment');
  t.ok(segmentExists(handle), 'in shared memory');
  const port = await listen(t, server);

  const outcomes = await opensslReconnect(port, ['-no_ticket', '-tls1_2']);
  t.same(outcomes, ['New', 'Reused', 'Reused', 'Reused', 'Reused', 'Reused']);
  const tls13 = await nodeRequest(port);
  await nodeRequest(port, { session: tls13.session });
  const after = attachment.cache.stats();
  t.equal(after.handshakes['TLSv1.2'].full, 1);
  t.equal(after.handshakes['TLSv1.2'].cache, 5, 'resumptions from the cache counted as such');
  t.equal(after.handshakes['TLSv1.3'].full, 1);
  t.equal(after.handshakes['TLSv1.3'].ticket, 1, 'and from a ticket as such');
  t.ok(after.tls13SessionsSkipped >= 2, 'TLS 1.3 sessions skipped');
  t.equal(after.sets, 1, 'only the TLS 1.2 session was stored');
  t.ok(after.ticketKey.generation >= 1 && after.ticketKey.applied >= 1, 'the process rotates and applies its own key');

  const setSecureContext = server.setSecureContext;
  attachment.detach();
  t.equal(server.listenerCount('newSession') + server.listenerCount('resumeSession'), 0, 'listeners removed');
  t.not(server.setSecureContext, setSecureContext, 'setSecureContext restored');
  t.equal(server.setSecureContext, tls.Server.prototype.setSecureContext);
  t.equal(attachment.cache.closed, true, 'the private cache is closed');
  t.notOk(segmentExists(handle), 'and removed');
  t.same(await opensslReconnect(port, ['-no_ticket', '-tls1_2']).then((o) => o[5]), 'New', 'no more shared resumption once detached');
});

t.test('a memory budget, the nginx way: sessions per MiB of the whole segment, resumed', async (t) => {
  const server = newServer();
  const memory = 16 * 1024 * 1024; // nginx's shared:SSL:16m
  const attachment = attachSharedCache(server, { memory, timeout: 60 });
  t.teardown(() => attachment.detach());
  const s = attachment.cache.stats();
  t.ok(s.memoryBytes <= memory, `${s.memoryBytes} bytes mapped, within the budget`);
  t.ok(s.items >= 16 * 4400, `${s.items} slots: at least 4,400 typical sessions a MiB`);
  t.equal(s.blocksize, 96, 'the default granule');
  const port = await listen(t, server);
  t.same(await opensslReconnect(port, ['-no_ticket', '-tls1_2']), ['New', 'Reused', 'Reused', 'Reused', 'Reused', 'Reused']);
});

t.test('https and http2 secure servers attach too', async (t) => {
  const h1 = https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.end('ok'));
  const h2 = http2.createSecureServer({ key: cert.key, cert: cert.cert, allowHTTP1: true });
  const a = attachSharedCache(h1, { namespace: 'h1', items: 10 });
  const b = attachSharedCache(h2, { namespace: 'h2', items: 10 });
  const port = await listen(t, h2);
  const outcomes = await opensslReconnect(port, ['-no_ticket', '-tls1_2']);
  t.equal(outcomes.filter((o) => o === 'Reused').length, 5, 'http2 secure server resumes from the cache');
  t.equal(b.cache.stats().handshakes['TLSv1.2'].cache, 5);
  a.detach();
  b.detach();
});

t.test('setupSharedCache publishes the handle, rotates on its timer, and cleans up on close()', async (t) => {
  const setup = setupSharedCache({ items: 50, tickets: { rotate: 1 }, sweepInterval: 0.05, stats: { port: 0 } });
  const handle = setup.cache.handle;
  t.equal(process.env[HANDLE_ENV], handle, 'the handle is in the environment cluster.fork() copies');
  t.equal(process.env.TLS_SHM_CACHE_TICKETS, 'shared');
  t.ok(segmentExists(handle));
  t.throws(() => setupSharedCache(), { code: 'ERR_INVALID_STATE', message: /already set up/ });
  t.equal(setup.stats().ticketKey.generation, 1, 'the first key is published before any fork');
  t.equal(setup.stats().maintainerPid, process.pid, 'the primary holds the maintenance lease');

  await waitUntil(() => setup.stats().ticketKey.generation >= 3, 'two rotations on the 1 s timer', 10000);
  t.pass('rotated every tickets.rotate seconds');
  t.ok(setup.stats().sweepRuns > 0, 'swept');
  t.equal(setup.rotateTicketKey(), setup.stats().ticketKey.generation, 'rotateTicketKey() publishes at once');

  const url = await setup.statsUrl!;
  const body = await fetch(`${url}/stats`).then((r) => r.text());
  t.match(body, /"items":\s*50/, 'the stats endpoint serves the counters');

  // A server of this process opens the primary's segment like a worker would.
  const server = newServer();
  const attachment = attachSharedCache(server);
  t.equal(attachment.mode, 'cluster');
  t.equal(attachment.cache.handle, handle);
  t.throws(
    () => attachSharedCache(newServer(), { namespace: 'file', path: `${cert.dir}/other.cache` }),
    { code: 'ERR_INVALID_ARG_VALUE', message: /is not the cache the primary set up/ },
    'a path that is not the primary\'s cache is refused rather than silently used',
  );
  attachment.detach();

  await setup.close();
  t.equal(process.env[HANDLE_ENV], undefined, 'the handle is withdrawn');
  t.notOk(segmentExists(handle), 'the segment is removed');
  t.equal(setup.cache.closed, true);
  await setup.close();
  t.pass('close() twice is harmless');
});

t.test('tickets: false leaves Node its own keys', async (t) => {
  const setup = setupSharedCache({ items: 10, tickets: false });
  t.teardown(() => setup.close());
  t.equal(process.env.TLS_SHM_CACHE_TICKETS, 'node', 'the choice is published for workers');
  t.equal(setup.stats().ticketKey.generation, 0, 'no key was made');
  t.throws(() => setup.rotateTicketKey(), { code: 'ERR_INVALID_STATE' });
  const server = newServer();
  const before = server.getTicketKeys();
  const attachment = attachSharedCache(server);
  t.same(server.getTicketKeys(), before, "the server's key is untouched");
  attachment.detach();
});

t.test('a handle that cannot be opened is a clear error, not a private cache', async (t) => {
  process.env[HANDLE_ENV] = 'shm:/tls-shm-cache.1.00000000deadbeef';
  t.teardown(() => {
    delete process.env[HANDLE_ENV];
  });
  const error = t.throws(() => attachSharedCache(newServer())) as Error & { code: string };
  t.equal(error.name, 'TlsShmCacheError');
  t.equal(error.code, 'ERR_TLS_SHM_NOT_FOUND');
  t.match(error.message, /cannot open the cache the primary set up/);
  t.match(error.message, /setupSharedCache\(\)/);
});

t.test('readSession reads real sessions and never throws on damaged ones', async (t) => {
  const sessions: Buffer[] = [];
  // Without tickets, TLS 1.2 full handshakes hand their session to 'newSession'.
  const server = newServer({ secureOptions: constants.SSL_OP_NO_TICKET, sessionTimeout: 77 });
  server.on('newSession', (_id, data, cb) => {
    sessions.push(data);
    cb();
  });
  const port = await listen(t, server);
  await nodeRequest(port, { maxVersion: 'TLSv1.2' });
  await nodeRequest(port, { maxVersion: 'TLSv1.3' });
  await waitUntil(() => sessions.length >= 2, 'sessions');
  const versions = sessions.map((s) => readSession(s)?.protocolVersion);
  t.ok(versions.includes(0x0303) && versions.includes(0x0304), 'TLS 1.2 and TLS 1.3 told apart');
  t.ok(sessions.every((s) => readSession(s)?.timeoutSeconds === 77), "the server's sessionTimeout");
  for (const der of sessions) {
    for (let length = 0; length < der.length; length++) readSession(der.subarray(0, length));
    const flipped = Buffer.from(der);
    for (let i = 0; i < flipped.length; i++) {
      flipped[i] ^= 0xff;
      readSession(flipped);
      flipped[i] ^= 0xff;
    }
  }
  t.equal(readSession(Buffer.alloc(0)), undefined);
  t.equal(readSession(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), undefined, 'absurd lengths refused');
  t.pass('truncated and damaged sessions never threw');
});

t.test('sessions of clients with a certificate carry it: stored with the default configuration, refused over maxValueBytes (README sizing)', async (t) => {
  // RSA-4096: a ~1.6 KB session, 25 blocks of the default 64 bytes.
  const client = makeClientCertificate(cert.dir, 'rsa:4096');
  const sizes: number[] = [];
  const connect = (port: number, session?: Buffer) =>
    nodeRequest(port, { maxVersion: 'TLSv1.2', key: client.key, cert: client.cert, session });
  for (const maxValueBytes of [undefined, 1024]) {
    const server = newServer({ secureOptions: constants.SSL_OP_NO_TICKET, requestCert: true, ca: [client.cert] });
    server.on('newSession', (_id, data, cb) => {
      sizes.push(data.length);
      cb();
    });
    const attachment = attachSharedCache(server, { namespace: `client-cert-${maxValueBytes ?? 'default'}`, items: 10, maxValueBytes });
    t.teardown(() => attachment.detach());
    const port = await listen(t, server);
    const made = await connect(port);
    const again = await connect(port, made.session);
    const s = attachment.cache.stats();
    if (maxValueBytes === 1024) {
      t.equal(s.tooLarge, 2, `the ${sizes[0]}-byte sessions of both (full) handshakes exceed maxValueBytes 1024: refused and counted`);
      t.equal(again.reused, false, 'so it cannot be resumed');
    } else {
      t.equal(s.tooLarge, 0);
      t.equal(again.reused, true, 'with the default configuration it is stored and resumed');
      t.equal(s.blocksUsed, Math.ceil(sizes[0] / s.blocksize), 'and takes the blocks its size needs, no more');
    }
  }
  t.ok(sizes[0] > 1024 && sizes[0] < 2048, `an RSA-4096 client certificate makes a ${sizes[0]}-byte session`);
});

t.test('a single process serves its own statistics with the stats option', async (t) => {
  const attachment = attachSharedCache(newServer(), { namespace: 'with-stats', items: 10, stats: { port: 0 } });
  t.teardown(() => attachment.detach());
  const url = await attachment.statsUrl!;
  const response = await fetch(`${url}/stats`);
  t.equal(response.status, 200);
  t.match(await response.text(), /"items":\s*10/);
  attachment.detach();
  t.equal(attachment.statsUrl, undefined, 'gone with the cache');
});
