/**
 * The ring of session-ticket keys (src/tls/ticket-ring.ts, ticket-keys.ts)
 * with real clients across cluster workers: single-use TLS 1.3 clients resume
 * every connection (about half on the single-key fallback path); tickets
 * survive one rotation and are renewed, not two; openssl and Python agree;
 * supplied keys in nginx's formats; and the callback never aborts the
 * process, whatever it is fed. Forked workers, reloads, the balancer and two
 * clusters sharing a key file: ticket-ring-lifecycle.test.ts.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest, opensslRequest, PythonTicketClient, singleUseTicketClient } from './fixtures/clients';
import { sleep, TestCluster, waitUntil } from './fixtures/harness';
import { attachSharedCache, setupSharedCache, SharedCache } from '../../src/index';
import type { CacheStats } from '../../src/index';
import { RingCallback } from '../../src/tls/ticket-keys';
import { parseKeyFile, recordFromNginxKey, rotateTicketRing } from '../../src/tls/ticket-ring';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

const TLS13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
const TLS12 = { maxVersion: 'TLSv1.2' } as const;

async function statsOf(cluster: TestCluster): Promise<CacheStats> {
  return (await cluster.command<{ stats: CacheStats }>('stats')).stats;
}

const resumedShare = (rs: { reused: boolean }[]) => rs.slice(1).filter((r) => r.reused).length / (rs.length - 1);

t.test('a single-use TLS 1.3 ticket client: every connection resumes with the ring, about half on the fallback path', async (t) => {
  const CONNECTIONS = 21;
  const ring = await TestCluster.start(t, cert, { setup: {}, workers: 2, servers: [{}] });
  const withRing = await singleUseTicketClient(ring.ports[0], CONNECTIONS, TLS13);
  const ringStats = await statsOf(ring);
  await ring.stop();

  const single = await TestCluster.start(t, cert, { setup: {}, workers: 2, servers: [{}], noTicketCallback: true });
  const withSingleKey = await singleUseTicketClient(single.ports[0], CONNECTIONS, TLS13);
  const singleStats = await statsOf(single);

  const ringShare = resumedShare(withRing);
  const singleShare = resumedShare(withSingleKey);
  t.comment(`single-use TLS 1.3 client, ${CONNECTIONS - 1} resumption attempts across 2 workers: ` +
    `ring ${(ringShare * 100).toFixed(0)} %, single-key fallback ${(singleShare * 100).toFixed(0)} %`);

  t.ok(withRing.every((r) => r.protocol === 'TLSv1.3'), 'TLS 1.3 throughout');
  t.equal(withRing[0].reused, false, 'the first connection is a full handshake');
  t.equal(ringShare, 1, 'with the ring every later connection resumed');
  t.ok(withRing.every((r) => r.gotTicket), 'each brought a fresh ticket (resumptions renewed)');
  t.ok(new Set(withRing.map((r) => r.pid)).size >= 2, 'served by both workers');
  t.equal(ringStats.ticketKey.mode, 'ring');
  t.ok(ringStats.ticketKey.renewed >= CONNECTIONS - 1, 'renewals counted');
  t.ok(ringStats.handshakes['TLSv1.3'].ticket >= CONNECTIONS - 1, 'counted as ticket resumptions');

  t.ok(singleShare >= 0.3 && singleShare <= 0.7, `the fallback path resumes about half (${singleShare.toFixed(2)})`);
  t.ok(withSingleKey.some((r) => r.reused && !r.gotTicket), 'because a resumption there brings no new ticket');
  t.equal(singleStats.ticketKey.mode, 'single-key', '/stats shows the fallback');
  await waitUntil(() => /no SecureContext\.enableTicketKeyCallback\(\)/.test(single.stderr), 'the fallback warning');
  t.equal(single.stderr.split('enableTicketKeyCallback()').length - 1, 2, 'warned once per worker');
});

t.test('rotation under load: one rotation resumes and renews, two force a full handshake, no connection fails', async (t) => {
  const cluster = await TestCluster.start(t, cert, { setup: {}, workers: 2, servers: [{}] });
  const port = cluster.ports[0];
  const dir = fs.mkdtempSync(path.join(cert.dir, 'ring-'));
  const file = (name: string) => path.join(dir, `${name}.pem`);

  // Background load through the rotations: single-use TLS 1.3 and session-reusing TLS 1.2 clients.
  let running = true;
  let failures = 0;
  let connections = 0;
  const loop = async (options: tls.ConnectionOptions, singleUse: boolean) => {
    let session: Buffer | undefined;
    while (running) {
      try {
        const r = await nodeRequest(port, { ...options, session });
        if (!Number.isInteger(r.pid)) failures++;
        connections++;
        session = singleUse ? r.session : (r.session ?? session);
      } catch {
        failures++;
      }
    }
  };
  const load = [loop(TLS13, true), loop(TLS13, true), loop(TLS12, false)];

  // Tickets made before the first rotation, by each client.
  const nodeA = await nodeRequest(port, TLS13);
  const ossl13 = await opensslRequest(port, { flags: ['-tls1_3'], sessOut: file('o13-a') });
  const ossl12 = await opensslRequest(port, { flags: ['-tls1_2'], sessOut: file('o12-a') });
  const py13 = new PythonTicketClient(port, '1.3');
  const py12 = new PythonTicketClient(port, '1.2');
  t.teardown(() => {
    py13.close();
    py12.close();
  });
  t.equal((await py13.connect('-', 'a')).reused, false);
  t.equal((await py12.connect('-', 'a')).reused, false);
  t.ok(nodeA.session && !nodeA.reused && !ossl13.reused && !ossl12.reused, 'first tickets from full handshakes');

  const before = await statsOf(cluster);
  await cluster.command('rotate');
  await sleep(200); // some load under the new ring

  // One rotation later: the old tickets resume, and the server renews them.
  const nodeB = await nodeRequest(port, { ...TLS13, session: nodeA.session });
  t.equal(nodeB.reused, true, 'node: a ticket from before the rotation resumes');
  t.ok(nodeB.session, 'node: and brings a renewed ticket');
  const o13 = await opensslRequest(port, { flags: ['-tls1_3'], sessIn: file('o13-a'), sessOut: file('o13-b') });
  const o12 = await opensslRequest(port, { flags: ['-tls1_2'], sessIn: file('o12-a') });
  t.equal(o13.reused, true, 'openssl -tls1_3 -sess_in: resumes after one rotation');
  t.equal(o12.reused, true, 'openssl -tls1_2 -sess_in: resumes after one rotation');
  // s_client writes -sess_out from OpenSSL's new-session callback, which
  // OpenSSL does not call for a resumed TLS 1.2 handshake, so the renewed
  // TLS 1.2 ticket never reaches a file: take a ticket made now instead.
  const o12c = await opensslRequest(port, { flags: ['-tls1_2'], sessOut: file('o12-c') });
  t.equal(o12c.reused, false, 'openssl -tls1_2: a new session after the rotation');
  t.equal((await py13.connect('a', 'b')).reused, true, 'python TLS 1.3: resumes after one rotation');
  t.equal((await py12.connect('a', 'b')).reused, true, 'python TLS 1.2: resumes after one rotation');

  await cluster.command('rotate');
  await sleep(200);

  // Two rotations after they were made: full handshakes, never a failure.
  t.equal((await nodeRequest(port, { ...TLS13, session: nodeA.session })).reused, false, 'node: two rotations old: full handshake');
  t.equal((await opensslRequest(port, { flags: ['-tls1_3'], sessIn: file('o13-a') })).reused, false, 'openssl 1.3: full handshake');
  t.equal((await opensslRequest(port, { flags: ['-tls1_2'], sessIn: file('o12-a') })).reused, false, 'openssl 1.2: full handshake');
  t.equal((await py13.connect('a', '-')).reused, false, 'python 1.3: full handshake');
  t.equal((await py12.connect('a', '-')).reused, false, 'python 1.2: full handshake');
  // The renewed tickets are one rotation old: they resume.
  t.equal((await nodeRequest(port, { ...TLS13, session: nodeB.session })).reused, true, 'node: the renewed ticket resumes');
  t.equal((await opensslRequest(port, { flags: ['-tls1_3'], sessIn: file('o13-b') })).reused, true, 'openssl 1.3: the renewed ticket resumes');
  t.equal((await opensslRequest(port, { flags: ['-tls1_2'], sessIn: file('o12-c') })).reused, true, 'openssl 1.2: a ticket one rotation old resumes');
  t.equal((await py13.connect('b', '-')).reused, true, 'python 1.3: the renewed ticket resumes');
  t.equal((await py12.connect('b', '-')).reused, true, 'python 1.2: the renewed ticket resumes');

  await cluster.command('rotate');
  await sleep(200);
  running = false;
  await Promise.all(load);
  const after = await statsOf(cluster);
  t.comment(`${connections} background connections through 3 rotations`);
  t.equal(failures, 0, 'no connection failed');
  t.ok(connections >= 10, 'the load ran');
  t.equal(after.ticketKey.generation, before.ticketKey.generation + 2 + 1, 'three rotations');
  t.equal(after.ticketKey.keys, 3, 'next, current, previous');
  t.ok(after.ticketKey.unknownKey > before.ticketKey.unknownKey, 'tickets two rotations old counted as unknown keys');
});

t.test('key files and key buffers in nginx\'s 48- and 80-byte layouts', async (t) => {
  const k48 = crypto.randomBytes(48);
  const k80 = crypto.randomBytes(80);
  const r48 = recordFromNginxKey(k48, 'k48');
  t.same(r48.name, k48.subarray(0, 16), '48: name first');
  t.same(r48.aes, k48.subarray(16, 32), '48: then AES');
  t.same(r48.hmac, Buffer.concat([k48.subarray(32, 48), Buffer.alloc(16)]), '48: then HMAC (zero-padded: the same HMAC key)');
  const r80 = recordFromNginxKey(k80, 'k80');
  t.same(r80.hmac, k80.subarray(16, 48), '80: name, HMAC 32');
  t.same(r80.aes, k80.subarray(48, 64), '80: AES-256 key cut to AES-128');
  const lines = Buffer.from(`# comment\n${k80.toString('base64')}\n\n${k48.toString('base64')}\n`);
  t.same(parseKeyFile(lines, 'f').map((r) => r.name), [k80.subarray(0, 16), k48.subarray(0, 16)], 'base64 lines in order');
  t.same(parseKeyFile(k48, 'f')[0].name, k48.subarray(0, 16), 'a raw 48-byte nginx key file');
  t.same(parseKeyFile(k80, 'f')[0].hmac, k80.subarray(16, 48), 'a raw 80-byte nginx key file');
  t.throws(() => parseKeyFile(Buffer.from(crypto.randomBytes(40).toString('base64')), 'f'), RangeError);
  t.throws(() => recordFromNginxKey(Buffer.alloc(64), 'k'), { name: 'RangeError', message: /48 or 80 bytes/ });

  const dir = fs.mkdtempSync(path.join(cert.dir, 'opts-'));
  const bad: Array<[unknown, { name?: string; message?: RegExp; code?: string }]> = [
    [{ keys: [] }, { name: 'TypeError' }],
    [{ keys: [42] }, { name: 'TypeError', message: /tickets.keys\[0\]/ }],
    [{ keys: [Buffer.alloc(32)] }, { name: 'RangeError', message: /48 or 80 bytes/ }],
    [{ keys: Array.from({ length: 5 }, () => crypto.randomBytes(48)) }, { name: 'RangeError', message: /at most 4/ }],
    [{ keys: path.join(dir, 'missing') }, { code: 'ERR_TLS_SHM_TICKET_KEYS' }],
    [{ keys: [crypto.randomBytes(48)], rotate: 60 }, { name: 'TypeError', message: /not both/ }],
  ];
  for (const [tickets, expected] of bad) {
    const server = tls.createServer({ key: cert.key, cert: cert.cert });
    t.throws(() => attachSharedCache(server, { tickets } as never), expected as never, JSON.stringify(tickets, (_k, v) => (v?.type === 'Buffer' ? 'Buffer' : v)));
  }

  // Buffers in a single process: the ring holds them, the first encrypts.
  const first = crypto.randomBytes(48);
  const second = crypto.randomBytes(80);
  const server = tls.createServer({ key: cert.key, cert: cert.cert, ...TLS13 }, (s) => s.end('x'));
  const attachment = attachSharedCache(server, { tickets: { keys: [first, second] } });
  t.teardown(() => attachment.detach());
  const ring = attachment.cache.ticketRing()!;
  t.equal(ring.present, 0b0110, 'current and one previous');
  t.same(ring.ring.subarray(64, 80), first.subarray(0, 16), 'the first key is current');
  t.same(ring.ring.subarray(128, 144), second.subarray(0, 16), 'the second decrypts');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const rs = await singleUseTicketClient(port, 4, TLS13);
  t.same(rs.map((r) => r.reused), [false, true, true, true], 'a single process resumes with supplied keys');
});

t.test('the callback never aborts or throws: fuzzed from JS while another process rotates the ring', async (t) => {
  const cache = SharedCache.create({ items: 16, blocksize: 256, timeout: 60 });
  t.teardown(() => cache.close());
  rotateTicketRing(cache);
  // Another process rotates and replaces the ring as fast as it can, with
  // partial rings (no current key, nothing at all) among them.
  const rotator = spawn(
    process.execPath,
    [
      '-e',
      `const { SharedCache } = require(${JSON.stringify(path.join(__dirname, '../../dist/index.js'))});
       const crypto = require('node:crypto');
       const c = SharedCache.open(process.argv[1]);
       const until = Date.now() + 30000;
       process.send('ready');
       for (let i = 0; Date.now() < until; i++) {
         if (i % 3 === 0) c.setTicketRing(crypto.randomBytes(256), i % 16);
         else c.rotateTicketRing(crypto.randomBytes(128));
       }`,
      cache.handle,
    ],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  t.teardown(() => rotator.kill('SIGKILL'));
  await new Promise((resolve) => rotator.once('message', resolve));

  const ring = new RingCallback(cache);
  const names: Buffer[] = [];
  const junk: unknown[] = [undefined, null, 42, 'name', {}, [], Buffer.alloc(0), Buffer.alloc(15), Buffer.alloc(17), new Uint16Array(8)];
  const check = (answer: unknown, enc: boolean) => {
    if (!Array.isArray(answer)) return 'not an array';
    const [ret, hmac, aes, name, iv] = answer;
    if (!(ret === 0 || ret === 1 || ret === 2)) return `ret ${ret}`;
    if (!Buffer.isBuffer(hmac) || hmac.length < 16) return 'hmac';
    if (!Buffer.isBuffer(aes) || aes.length !== 16) return 'aes';
    if (enc && (!Buffer.isBuffer(name) || name.length !== 16 || !Buffer.isBuffer(iv) || iv.length !== 16)) return 'name/iv';
    return '';
  };
  let bad = '';
  let known = 0;
  const deadline = Date.now() + 3000;
  let calls = 0;
  while (Date.now() < deadline && !bad) {
    for (let i = 0; i < 500; i++, calls++) {
      const r = Math.random();
      let answer: unknown;
      if (r < 0.3) {
        answer = ring.callback(crypto.randomBytes(16), crypto.randomBytes(16), true);
        bad ||= check(answer, true);
        names.push(Buffer.from((answer as Buffer[])[3]));
        if (names.length > 64) names.shift();
      } else if (r < 0.6 && names.length > 0) {
        answer = ring.callback(names[Math.floor(Math.random() * names.length)], crypto.randomBytes(16), false);
        bad ||= check(answer, false);
        if ((answer as number[])[0] > 0) known++;
      } else if (r < 0.8) {
        answer = ring.callback(crypto.randomBytes(16), crypto.randomBytes(16), false);
        bad ||= check(answer, false);
        if ((answer as number[])[0] !== 0) bad ||= 'a random name was accepted';
      } else {
        const j = junk[Math.floor(Math.random() * junk.length)];
        answer = (ring.callback as (...a: unknown[]) => unknown)(j, j, Math.random() < 0.5 ? j : false);
        bad ||= check(answer, false);
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(bad, '', `${calls} calls: every answer carries Buffers where Node reads them`);
  // IVs come from a pool refilled every 256 tickets: each one fresh, across refills too.
  const ivs = new Set<string>();
  for (let i = 0; i < 1000; i++) ivs.add(Buffer.from((ring.callback(Buffer.alloc(16), Buffer.alloc(16), true) as Buffer[])[4]).toString('hex'));
  t.equal(ivs.size, 1000, 'every ticket gets its own IV');
  t.ok(known > 0, `names issued moments ago are found (${known})`);
  // Truncated state: the cache closed under the callback.
  const closing = SharedCache.open(cache.handle);
  const late = new RingCallback(closing);
  closing.close();
  t.equal(check(late.callback(crypto.randomBytes(16), Buffer.alloc(16), true), true), '', 'encrypt after close');
  t.equal(check(late.callback(crypto.randomBytes(16), Buffer.alloc(16), false), false), '', 'decrypt after close');

  // And a real server on that ring, handshaking while the other process rotates it.
  const server = tls.createServer({ key: cert.key, cert: cert.cert, ...TLS13 }, (socket) => socket.end('x'));
  const context = (server as unknown as { _sharedCreds: { context: { enableTicketKeyCallback(): void; onticketkeycallback: unknown } } })
    ._sharedCreds.context;
  context.onticketkeycallback = ring.callback;
  context.enableTicketKeyCallback();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  let session: Buffer | undefined;
  let completed = 0;
  for (let i = 0; i < 20; i++) {
    const r = await new Promise<{ session?: Buffer; ok: boolean }>((resolve) => {
      const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, session, ...TLS13 });
      let got: Buffer | undefined;
      socket.on('session', (s: Buffer) => (got = s));
      socket.on('data', () => undefined);
      socket.on('end', () => resolve({ session: got, ok: true }));
      socket.on('error', () => resolve({ ok: false }));
    });
    if (r.ok) completed++;
    session = r.session;
  }
  t.equal(completed, 20, 'every handshake completed while the ring changed under it');
});

t.test('rotateTicketKey() re-reads the key files at once', async (t) => {
  const dir = fs.mkdtempSync(path.join(cert.dir, 'reread-'));
  const file = path.join(dir, 'keys');
  const first = crypto.randomBytes(80);
  const second = crypto.randomBytes(48);
  fs.writeFileSync(file, first, { mode: 0o600 }); // one raw 80-byte key, as nginx reads it
  // A long sweep interval: the tick (at most 5 s) must not be what picks the change up.
  const setup = setupSharedCache({ items: 16, sweepInterval: 3600, tickets: { keys: file } });
  t.teardown(() => setup.close());
  const currentName = () => setup.cache.ticketRing()!.ring.subarray(64, 80);
  t.same(currentName(), first.subarray(0, 16), 'the file key is current');
  const before = setup.stats().ticketKey.generation;
  fs.writeFileSync(file, `${second.toString('base64')}\n${first.toString('base64')}\n`);
  const generation = setup.rotateTicketKey();
  t.equal(generation, before + 1, 'published as a new generation');
  t.same(currentName(), second.subarray(0, 16), 'the new first key encrypts');
  t.same(setup.cache.ticketRing()!.ring.subarray(128, 144), first.subarray(0, 16), 'the old one decrypts');
  fs.writeFileSync(file, 'not a key\n');
  t.throws(() => setup.rotateTicketKey(), RangeError, 'a broken file throws from rotateTicketKey()');
  t.same(currentName(), second.subarray(0, 16), 'and the keys in use stay');
});
