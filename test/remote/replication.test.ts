/**
 * Sessions and ticket keys shared by two hosts through a real redis-server:
 * each host an independent cluster (own primary, segment, ports), clients
 * alternating between them the way a TCP balancer would send them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { connect, IDS, remoteSetup, sessionFile, startHost, TICKETS, waitApplied, waitSameRing } from './fixtures/hosts';
import { startRedis } from './fixtures/redis';

const SECRET = 'a fleet secret of at least sixteen bytes';
const V12 = ['-tls1_2', '-no_ticket'];
const V13 = ['-tls1_3'];

t.setTimeout(900_000);

t.test('two hosts resume each other\'s sessions: TLS 1.2 session IDs and TLS 1.3 tickets', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const a = await startHost(t, 'A', cert, remoteSetup(redis.url, SECRET));
  const b = await startHost(t, 'B', cert, remoteSetup(redis.url, SECRET));
  const hosts = [a, b];

  t.test('openssl -no_ticket -tls1_2: a session made on one host resumes on the other', async (t) => {
    const rounds = 20;
    let resumed = 0;
    const appliedBefore = [(await a.remote()).applied, (await b.remote()).applied];
    for (let i = 0; i < rounds; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const file = sessionFile(cert.dir, `ids-${i}`);
      const first = await connect(from, IDS, V12, undefined, file);
      t.equal(first.reused, false, `round ${i}: a full handshake on ${from.name}`);
      // Replication lag: wait until the other host has inserted it.
      const k = to === a ? 0 : 1;
      await waitApplied(to, appliedBefore[k] + Math.floor(i / 2) + 1);
      const second = await connect(to, IDS, V12, file);
      if (second.reused) resumed++;
    }
    t.ok(resumed / rounds >= 0.99, `resumed on the other host: ${resumed} of ${rounds}`);
  });

  t.test('Python ssl with OP_NO_TICKET: sessions made on A resume on B', async (t) => {
    const count = 10;
    const before = (await b.remote()).applied;
    const script = fs.readFileSync(path.join(__dirname, 'fixtures', 'alternate.py'), 'utf8');
    const child = spawn('python3', ['-c', script, String(a.port(IDS)), String(b.port(IDS)), String(count)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waitUntilText(() => out, 'made');
    await waitApplied(b, before + count);
    child.stdin.end('go\n');
    t.equal(await exited, 0, `python exited cleanly ${err.slice(-300)}`);
    const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { first: boolean; reused: boolean; version: string });
    const firsts = lines.filter((l) => l.first);
    const seconds = lines.filter((l) => !l.first);
    t.equal(firsts.length, count);
    t.ok(firsts.every((l) => !l.reused && l.version === 'TLSv1.2'), 'full TLS 1.2 handshakes on A');
    const resumed = seconds.filter((l) => l.reused).length;
    t.ok(resumed / count >= 0.99, `resumed on B: ${resumed} of ${count}`);
  });

  t.test('openssl -tls1_3 tickets: a ticket issued by one host resumes on the other', async (t) => {
    await waitSameRing(hosts);
    const rounds = 20;
    let resumed = 0;
    for (let i = 0; i < rounds; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const file = sessionFile(cert.dir, `t13-${i}`);
      const first = await connect(from, TICKETS, V13, undefined, file);
      t.equal(first.reused, false);
      const second = await connect(to, TICKETS, V13, file);
      if (second.reused) resumed++;
    }
    t.ok(resumed / rounds >= 0.99, `tickets resumed on the other host: ${resumed} of ${rounds}`);
  });

  t.test('rotateTicketKey() on one host rotates the fleet ring; both follow and resume each other\'s new tickets', async (t) => {
    const before = await waitSameRing(hosts);
    const keyBefore = (await a.cluster.command<{ key: string }>('ticket-key')).key;
    const old = sessionFile(cert.dir, 'before-rotation');
    await connect(a, TICKETS, V13, undefined, old);
    await a.cluster.command('rotate');
    const after = await waitSameRing(hosts, before + 1);
    t.equal(after, before + 1, `generation ${before} -> ${after} on both hosts`);
    const keys = [(await a.cluster.command<{ key: string }>('ticket-key')).key, (await b.cluster.command<{ key: string }>('ticket-key')).key];
    t.not(keys[0], keyBefore, 'a new key');
    t.equal(keys[0], keys[1], 'the same key on both hosts');
    const file = sessionFile(cert.dir, 'after-rotation');
    await connect(b, TICKETS, V13, undefined, file);
    t.equal((await connect(a, TICKETS, V13, file)).reused, true, 'a ticket of the new key resumes on the other host');
    t.equal((await connect(b, TICKETS, V13, old)).reused, true, 'a ticket from before the rotation still resumes, on the other host (previous key)');
    t.ok((await a.remote()).ring.rotations >= 1, 'counted');
  });

  t.test('the remote section counts what happened', async (t) => {
    const ra = await a.remote();
    const rb = await b.remote();
    for (const [r, name] of [[ra, 'A'], [rb, 'B']] as const) {
      t.equal(r.connected, true, `${name} connected`);
      t.ok(r.published > 0, `${name} published ${r.published}`);
      t.ok(r.applied > 0, `${name} applied ${r.applied}`);
      t.same(r.dropped, { malformed: 0, unknownSecret: 0, forged: 0, backlogFull: 0, outboxLost: 0 }, `${name} dropped nothing`);
      t.equal(r.ring.source, 'redis');
      t.ok(r.lagMs && r.lagMs.p50 >= 0 && r.lagMs.p99 >= r.lagMs.p50, `${name} lag ${JSON.stringify(r.lagMs)}`);
    }
    t.not(ra.hostId, rb.hostId, 'each host has its own id');
  });
});

async function waitUntilText(read: () => string, text: string, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!read().includes(text)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for '${text}' in ${read().slice(-300)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
