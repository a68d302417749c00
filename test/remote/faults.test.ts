/**
 * Faults never reach clients: Redis stopped mid-run and restarted empty, a
 * host restarted while the others go on, a host with the wrong secret, forged
 * stream entries; and nothing secret in Redis or on the wire to it.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { connect, IDS, poll, remoteSetup, sessionFile, sessionSecrets, startHost, TICKETS, waitApplied, waitSameRing } from './fixtures/hosts';
import { startRedis } from './fixtures/redis';

const SECRET = 'a fleet secret of at least sixteen bytes';
const V12 = ['-tls1_2', '-no_ticket'];
const V13 = ['-tls1_3'];

t.setTimeout(900_000);

t.test('Redis stopped mid-run, then restarted empty', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const a = await startHost(t, 'A', cert, remoteSetup(redis.url, SECRET));
  const b = await startHost(t, 'B', cert, remoteSetup(redis.url, SECRET));
  const generation = await waitSameRing([a, b]);
  // A ticket from before the outage, to resume after Redis comes back empty.
  const before = sessionFile(cert.dir, 'before');
  t.equal((await connect(a, TICKETS, V13, undefined, before)).reused, false);

  await redis.stop();
  let handshakes = 0;
  let failures = 0;
  for (let i = 0; i < 20; i++) {
    const host = i % 2 === 0 ? a : b;
    const r = await connect(host, i % 4 < 2 ? IDS : TICKETS, i % 4 < 2 ? V12 : V13);
    handshakes++;
    if (r.protocol === undefined || r.pid === undefined) failures++;
  }
  t.equal(failures, 0, `${handshakes} handshakes while Redis is down, none failed`);
  await poll(async () => !(await a.remote()).connected && !(await b.remote()).connected);
  t.ok((await a.remote()).disconnects > 0, 'the outage is counted');

  await redis.start(); // empty: no stream, no ring
  await poll(async () => (await a.remote()).connected && (await b.remote()).connected, 30000);
  await poll(async () => redis.cli(['EXISTS', 'tls-shm-cache:ring']).trim() === '1', 30000);
  const ra = await a.remote();
  const rb = await b.remote();
  t.ok(ra.ring.reseeded + rb.ring.reseeded >= 1, 'one host re-seeded the ring from its own');
  t.ok(ra.ring.generation >= generation, 'generations never go back');
  const resumed = await connect(b, TICKETS, V13, before);
  t.equal(resumed.reused, true, 'a ticket issued before the flush still resumes, on the other host');

  // Replication resumes: a new session of A resumes on B.
  const appliedB = (await b.remote()).applied;
  const file = sessionFile(cert.dir, 'after');
  await connect(a, IDS, V12, undefined, file);
  await waitApplied(b, appliedB + 1, 30000);
  t.equal((await connect(b, IDS, V12, file)).reused, true, 'a session made after the restart resumes on the other host');
});

t.test('a host restarted mid-test catches up on what it missed', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const a = await startHost(t, 'A', cert, remoteSetup(redis.url, SECRET));
  const b = await startHost(t, 'B', cert, remoteSetup(redis.url, SECRET));
  await b.cluster.stop();
  const files: string[] = [];
  for (let i = 0; i < 6; i++) {
    files.push(sessionFile(cert.dir, `while-down-${i}`));
    await connect(a, IDS, V12, undefined, files[i]);
  }
  await poll(async () => (await a.remote()).published >= 6);
  const b2 = await startHost(t, 'B2', cert, remoteSetup(redis.url, SECRET));
  await waitApplied(b2, 6);
  let resumed = 0;
  for (const f of files) if ((await connect(b2, IDS, V12, f)).reused) resumed++;
  t.equal(resumed, files.length, 'every session made while B was down resumes on the new B');
});

t.test('a host with the wrong secret inserts nothing of the others, and forged entries are dropped', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const a = await startHost(t, 'A', cert, remoteSetup(redis.url, SECRET));
  const c = await startHost(t, 'C', cert, remoteSetup(redis.url, 'another secret, sixteen bytes+'));
  const files: string[] = [];
  for (let i = 0; i < 4; i++) {
    files.push(sessionFile(cert.dir, `a-${i}`));
    await connect(a, IDS, V12, undefined, files[i]);
  }
  await poll(async () => (await c.remote()).dropped.unknownSecret >= 4);
  for (const f of files) t.equal((await connect(c, IDS, V12, f)).reused, false, 'not resumed with the wrong secret');
  const rc = await c.remote();
  t.equal(rc.applied, 0, 'C inserted nothing');

  // Forged entries: right shape, damaged or made-up seal; and one missing fields.
  const aBefore = (await a.remote()).dropped;
  const future = String(Date.now() + 60000);
  const xadd = (fields: string[]) => redis.cli(['XADD', 'tls-shm-cache:sessions', '*', ...fields]);
  // Sealed with A's key id (read from a real entry) but bytes flipped.
  const entries = redis.cli(['--no-raw', 'XRANGE', 'tls-shm-cache:sessions', '-', '+', 'COUNT', '1']);
  t.ok(entries.length > 0);
  const forged = Buffer.alloc(200, 7);
  forged[0] = 1;
  xadd(['k', 's', 'o', 'mallory', 'p', 'x', 'q', '1', 'n', 'ids', 'i', 'abcd', 'e', future, 't', future, 'c', forged.toString('latin1')]);
  xadd(['k', 's', 'o', 'mallory', 'p', 'x', 'q', '2']);
  await poll(async () => {
    const d = (await a.remote()).dropped;
    return d.malformed > aBefore.malformed && d.unknownSecret + d.forged > aBefore.unknownSecret + aBefore.forged;
  });
  t.pass('the forged entry and the malformed one are dropped and counted');
});

t.test('no session DER, master secret or ticket key reaches Redis in the clear', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const monitor = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'MONITOR'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let captured = '';
  monitor.stdout.on('data', (c: Buffer) => (captured += c.toString('latin1')));
  t.teardown(() => {
    monitor.kill();
  });
  await poll(async () => captured.includes('OK'));
  const a = await startHost(t, 'A', cert, remoteSetup(redis.url, SECRET));
  const b = await startHost(t, 'B', cert, remoteSetup(redis.url, SECRET));
  await waitSameRing([a, b]);
  const files: string[] = [];
  for (let i = 0; i < 6; i++) {
    files.push(sessionFile(cert.dir, `secret-${i}`));
    await connect(i % 2 ? b : a, IDS, V12, undefined, files[i]);
  }
  await waitApplied(b, 3);
  await waitApplied(a, 3);
  const ticketKeys = [(await a.cluster.command<{ key: string }>('ticket-key')).key, (await b.cluster.command<{ key: string }>('ticket-key')).key].map((h) => Buffer.from(h, 'hex'));
  t.ok(ticketKeys[0].equals(ticketKeys[1]), 'both hosts hold the same ticket key (from the ring)');

  // Everything Redis holds, raw.
  let stored = redis.cli(['XRANGE', 'tls-shm-cache:sessions', '-', '+']);
  for (const key of redis.cli(['KEYS', '*']).split('\n').filter(Boolean)) {
    const type = redis.cli(['TYPE', key]).trim();
    if (type === 'string') stored += redis.cli(['GET', key]);
  }
  const wire = unescapeMonitor(captured);
  t.ok(wire.length > 1000 && stored.length > 1000, `captured ${wire.length} bytes of MONITOR and ${stored.length} stored`);
  const haystacks = [Buffer.from(stored, 'latin1'), wire];
  const secrets: [string, Buffer][] = [];
  for (const f of files) {
    const s = await sessionSecrets(f);
    secrets.push(['master secret', s.masterKey], ['session DER', s.der]);
  }
  // The ring: 4 records of 64 bytes (name 16, HMAC 32, AES 16); empty slots are zeros.
  for (let at = 0; at + 64 <= ticketKeys[0].length; at += 64) {
    const record = ticketKeys[0].subarray(at, at + 64);
    if (record.every((b) => b === 0)) continue;
    secrets.push(['ticket key record', record], ['ticket HMAC key', record.subarray(16, 48)], ['ticket AES key', record.subarray(48, 64)]);
  }
  let leaks = 0;
  for (const [what, secret] of secrets) {
    for (const form of [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase()), Buffer.from(secret.toString('base64'))]) {
      for (const h of haystacks) if (h.includes(form)) leaks++, t.fail(`${what} found in Redis`);
    }
  }
  t.equal(leaks, 0, `none of ${secrets.length} secrets, in raw, hex or base64, found`);
});

/** MONITOR prints arguments as quoted strings with \xNN escapes: back to bytes. */
function unescapeMonitor(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && text[i + 1] === 'x' && /^[0-9a-f]{2}$/i.test(text.slice(i + 2, i + 4))) {
      out.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (ch === '\\' && i + 1 < text.length) {
      const next = text[++i];
      out.push(({ n: 10, r: 13, t: 9, a: 7, b: 8 } as Record<string, number>)[next] ?? next.charCodeAt(0));
    } else {
      out.push(ch.charCodeAt(0) & 0xff);
    }
  }
  return Buffer.from(out);
}

void fs;
