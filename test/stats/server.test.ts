/**
 * The stats endpoint over real HTTP: what GET /stats and GET /metrics report
 * for known traffic on a real SharedCache, which requests it refuses, where it
 * listens, and that no secret ever reaches a response.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t, { Test } from 'tap';
import { SharedCache, startStatsServer, type StatsDocument } from '../../src/index';
import {
  handshakeCounter,
  OTHER_VERSION_HANDSHAKES,
  TICKET_KEY_APPLIED,
  TICKET_RENEWED,
  TICKET_RING_INSTALLED,
  TICKET_SINGLE_KEY_INSTALLED,
  TICKET_UNKNOWN_KEY,
  TLS13_SESSIONS_SKIPPED,
} from '../../src/core/counters';
import { FIXTURES, getJson, parsePrometheus, request, waitFor } from './fixtures/helpers';
import { formatLive, formatSnapshot } from '../../src/stats/render';

function newCache(t: Test, options: Partial<Parameters<typeof SharedCache.create>[0]> = {}): SharedCache {
  const cache = SharedCache.create({ items: 64, blocksize: 256, timeout: 60, ...options });
  t.teardown(() => cache.close());
  return cache;
}

async function serve(t: Test, cache: SharedCache, options: { port?: number; host?: string } = {}): Promise<string> {
  const server = startStatsServer(() => cache.stats(), options);
  t.teardown(() => server.close());
  return server.ready;
}

const key = (s: string) => Buffer.from(s);

t.test('startStatsServer refuses a read that is not a function, misspelt options and bad ports', async (t) => {
  t.throws(() => startStatsServer(undefined as never), { name: 'TypeError', message: /read must be a function/ });
  t.throws(() => startStatsServer(() => ({}) as never, { prot: 9090 } as never), {
    name: 'TypeError',
    message: /unknown option 'prot' \(did you mean 'port'\?\)/,
  });
  t.throws(() => startStatsServer(() => ({}) as never, { port: 70000 }), { name: 'RangeError', message: /stats\.port/ });
  t.throws(() => startStatsServer(() => ({}) as never, { port: 1.5 }), { name: 'RangeError' });
  t.throws(() => startStatsServer(() => ({}) as never, { host: 42 } as never), { name: 'TypeError', message: /stats\.host/ });
});

t.test('ready rejects when the port is taken', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const server = startStatsServer(() => ({}) as never, { port });
  await t.rejects(server.ready, { code: 'EADDRINUSE' });
  await server.close();
});

t.test('listens on 127.0.0.1 by default and is not reachable on other addresses', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(url).port);
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!external) {
    t.comment('no non-loopback IPv4 address on this machine: only the bound address is checked');
    return;
  }
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, external.address);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', `port ${port} on ${external.address} refuses`);
});

const ipv6Loopback = Object.values(os.networkInterfaces())
  .flat()
  .some((a) => a?.internal && a.address === '::1');
t.test('listens on the host it is given', { skip: ipv6Loopback ? false : 'no IPv6 loopback (::1) here' }, async (t) => {
  const cache = newCache(t);
  const server = startStatsServer(() => cache.stats(), { host: '::1' });
  t.teardown(() => server.close());
  const url = await server.ready;
  t.match(url, /^http:\/\/\[::1\]:\d+$/);
  const doc = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(doc.version, 1);
});

t.test('GET /stats counts what the cache did: hits, misses, lookups, sets, items in use', async (t) => {
  const cache = newCache(t, { items: 100, blocksize: 512 });
  const url = await serve(t, cache);
  const before = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(before.version, 1);
  t.equal(before.cache.lookups, 0);
  t.equal(before.cache.hitRatio, null, 'no lookups: no ratio');

  const N = 25;
  const M = 7;
  for (let i = 0; i < N; i++) t.equal(cache.set(key(`k${i}`), Buffer.alloc(100, i)), true);
  cache.set(key('k0'), Buffer.alloc(10)); // one replacement
  for (let i = 0; i < N; i++) t.ok(cache.get(key(`k${i}`)));
  for (let i = 0; i < M; i++) t.notOk(cache.get(key(`absent${i}`)));

  const doc = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(doc.cache.hits, N);
  t.equal(doc.cache.misses, M);
  t.equal(doc.cache.lookups, N + M);
  t.equal(doc.cache.hitRatio, Math.round((N / (N + M)) * 1e4) / 1e4);
  t.equal(doc.cache.sets, N + 1);
  t.equal(doc.cache.replaced, 1);
  t.equal(doc.capacity.used, N);
  t.equal(doc.capacity.free, 100 - N);
  t.equal(doc.capacity.items, 100);
  t.equal(doc.capacity.blocksize, 512);
  // 24 values of 100 bytes and one of 10, one 512-byte block each.
  t.equal(doc.capacity.blocksUsed, N);
  t.equal(doc.capacity.blocksFree, doc.capacity.blocks - N);
  t.equal(doc.capacity.bytesStored, (N - 1) * 100 + 10);
  t.equal(doc.capacity.maxValueBytes, 10240);
  t.equal(doc.capacity.timeoutSeconds, 60);
  t.equal(doc.capacity.maxKeyLength, 64);
  t.ok(doc.capacity.memoryBytes > 100 * 512, 'memory covers the slots');
  t.equal(doc.processes.attached, 1);
  t.ok(doc.uptimeSeconds >= 0);
  t.equal(doc.createdAt, cache.stats().createdAt);
  t.ok(doc.time >= doc.createdAt);
});

t.test('deletes, evictions, expired items, refused values and sweeps are counted', async (t) => {
  const cache = newCache(t, { items: 4, blocksize: 64, maxValueBytes: 64 });
  const url = await serve(t, cache);
  cache.set(key('short'), key('v'), 0.05);
  for (let i = 0; i < 4; i++) cache.set(key(`fill${i}`), key('v')); // 5 items into 4 slots
  t.equal(cache.set(key('big'), Buffer.alloc(65)), false);
  t.equal(cache.delete(key('fill3')), true);
  await new Promise((r) => setTimeout(r, 80));
  cache.sweep();
  const doc = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(doc.cache.deletes, 1);
  t.equal(doc.cache.tooLarge, 1);
  t.ok(doc.cache.evictions + doc.cache.expired >= 1, 'the fifth item took a slot from another');
  t.ok(doc.sweep.runs >= 1);
  t.ok(doc.sweep.seconds >= 0);
});

t.test('handshakes appear by TLS version and outcome, with resumption rates per version and overall', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  cache.count(handshakeCounter('TLSv1.2', 'full'), 2);
  cache.count(handshakeCounter('TLSv1.2', 'cache'), 6);
  cache.count(handshakeCounter('TLSv1.3', 'full'), 1);
  cache.count(handshakeCounter('TLSv1.3', 'ticket'), 3);
  cache.count(TLS13_SESSIONS_SKIPPED, 8);
  cache.count(OTHER_VERSION_HANDSHAKES, 1);
  const doc = await getJson<StatsDocument>(`${url}/stats`);
  t.same(doc.handshakes['TLSv1.2'], { full: 2, cache: 6, ticket: 0, total: 8, resumed: 6, resumptionRate: 0.75 });
  t.same(doc.handshakes['TLSv1.3'], { full: 1, cache: 0, ticket: 3, total: 4, resumed: 3, resumptionRate: 0.75 });
  t.same(doc.handshakes.TLSv1, { full: 0, cache: 0, ticket: 0, total: 0, resumed: 0, resumptionRate: null });
  t.same(doc.handshakeTotals, { full: 3, cache: 6, ticket: 3, total: 12, resumed: 9, resumptionRate: 0.75 });
  t.equal(doc.tls13SessionsSkipped, 8);
  t.equal(doc.otherVersionHandshakes, 1);
});

t.test('the ticket key shows its generation, age and applications, never its bytes', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  let doc = await getJson<StatsDocument>(`${url}/stats`);
  t.same(doc.ticketKey, { generation: 0, ageSeconds: null, applied: 0, keys: 0, mode: 'none', renewed: 0, unknownKey: 0 });
  cache.rotateTicketRing(crypto.randomBytes(128));
  cache.rotateTicketRing(crypto.randomBytes(128));
  cache.count(TICKET_KEY_APPLIED, 5);
  cache.count(TICKET_RING_INSTALLED, 2);
  cache.count(TICKET_RENEWED, 7);
  cache.count(TICKET_UNKNOWN_KEY, 3);
  doc = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(doc.ticketKey.generation, 2);
  t.equal(doc.ticketKey.applied, 5);
  t.equal(doc.ticketKey.keys, 3, 'next, current and previous after two rotations');
  t.equal(doc.ticketKey.mode, 'ring');
  t.equal(doc.ticketKey.renewed, 7);
  t.equal(doc.ticketKey.unknownKey, 3);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.match(metrics, /^tls_shm_cache_ticket_mode\{mode="ring"\} 1$/m, '/metrics names the mode');
  t.match(metrics, /^tls_shm_cache_ticket_mode\{mode="single-key"\} 0$/m);
  t.match(metrics, /^tls_shm_cache_ticket_keys 3$/m);
  t.match(metrics, /^tls_shm_cache_tickets_renewed_total 7$/m);
  t.match(formatSnapshot(doc, 'x'), /^ticket key\s+ring: generation 2, age .*, 3 keys, applied 5 times$/m, 'the CLI names the mode');
  t.match(formatSnapshot(doc, 'x'), /^tickets\s+7 renewed, 3 under unknown keys$/m);
  t.match(formatLive(doc, undefined, { source: 'x', intervalSeconds: 1 } as never), /tickets ring gen 2/);
  cache.count(TICKET_SINGLE_KEY_INSTALLED, 1);
  doc = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(doc.ticketKey.mode, 'single-key', 'one server on the fallback path shows');
  t.match(formatSnapshot(doc, 'x'), /^ticket key\s+single-key fallback: generation 2/m);
  t.type(doc.ticketKey.ageSeconds, 'number');
  t.ok(doc.ticketKey.ageSeconds! >= 0 && doc.ticketKey.ageSeconds! < 600, 'age of a key made just now');
});

t.test('counters are summed over every process attached to the segment', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  cache.set(key('parent'), key('v'));
  cache.get(key('parent'));
  const child = spawn(process.execPath, [...process.execArgv, path.join(FIXTURES, 'traffic.ts'), cache.handle, '5', '3'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await Promise.race([
    new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve)),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error('child gave no report in 30 s')), 30_000).unref()),
  ]);
  const report = JSON.parse(line) as { hits: number; misses: number; sets: number };
  t.same(report, { pid: child.pid, sets: 5, hits: 5, misses: 3 });
  const doc = await getJson<StatsDocument>(`${url}/stats`);
  t.equal(doc.processes.attached, 2, 'this process and the child');
  t.equal(doc.cache.hits, 1 + 5);
  t.equal(doc.cache.misses, 3);
  t.equal(doc.cache.sets, 1 + 5);
  t.equal(doc.capacity.used, 6);
  child.stdin!.end();
  await new Promise((r) => child.once('exit', r));
  const after = await waitFor(
    async () => {
      const d = await getJson<StatsDocument>(`${url}/stats`);
      return d.processes.attached === 1 && d;
    },
    'the child to detach',
  );
  t.equal(after.cache.hits, 6, "a detached process's counters are kept");
});

t.test('GET /metrics is Prometheus text that a real parser reads, with HELP, TYPE and the right values', async (t) => {
  const cache = newCache(t, { items: 50 });
  const url = await serve(t, cache);
  for (let i = 0; i < 10; i++) cache.set(key(`m${i}`), key('value'));
  for (let i = 0; i < 10; i++) cache.get(key(`m${i}`));
  for (let i = 0; i < 4; i++) cache.get(key(`none${i}`));
  cache.count(handshakeCounter('TLSv1.2', 'cache'), 9);
  cache.count(handshakeCounter('TLSv1.3', 'ticket'), 4);
  cache.count(handshakeCounter('TLSv1.3', 'full'), 2);
  cache.rotateTicketRing(crypto.randomBytes(128));

  const res = await request(`${url}/metrics`);
  t.equal(res.status, 200);
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.ok(res.body.endsWith('\n'), 'ends with a newline');
  const families = parsePrometheus(res.body);
  const byName = new Map(families.map((f) => [f.name, f]));
  t.equal(byName.size, families.length, 'each family once');

  for (const f of families) {
    t.match(f.name, /^tls_shm_cache_[a-z0-9_]+$/, `${f.name}: prefixed, lower snake case`);
    t.ok(f.type === 'COUNTER' || f.type === 'GAUGE', `${f.name}: declared counter or gauge (got ${f.type})`);
    t.ok(f.help.length > 10, `${f.name}: has help`);
    if (f.type === 'COUNTER') t.match(f.name, /_total$/, `${f.name}: a counter ends in _total`);
    else t.notMatch(f.name, /_total$/, `${f.name}: a gauge does not end in _total`);
    for (const m of f.metrics) t.ok(Number.isFinite(Number(m.value)), `${f.name}: value ${m.value} is a number`);
  }
  // Every sample line belongs to a family announced by # TYPE (a parser would list it as UNTYPED otherwise).
  const typed = new Set(res.body.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
  for (const l of res.body.split('\n').filter((l) => l && !l.startsWith('#'))) {
    t.ok(typed.has(l.split(/[{ ]/)[0]), `sample of a typed family: ${l}`);
  }

  const value = (name: string, labels?: Record<string, string>) => {
    const f = byName.get(name);
    if (!f) throw new Error(`no family ${name}`);
    const m = f.metrics.find((s) => !labels || Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
    return m === undefined ? undefined : Number(m.value);
  };
  t.equal(value('tls_shm_cache_hits_total'), 10);
  t.equal(value('tls_shm_cache_misses_total'), 4);
  t.equal(value('tls_shm_cache_sets_total'), 10);
  t.equal(value('tls_shm_cache_items'), 10);
  t.equal(value('tls_shm_cache_capacity_items'), 50);
  t.equal(value('tls_shm_cache_blocksize_bytes'), 256);
  t.equal(value('tls_shm_cache_capacity_blocks'), cache.stats().blocks);
  t.equal(value('tls_shm_cache_blocks_used'), cache.stats().blocksUsed);
  t.equal(value('tls_shm_cache_stored_bytes'), cache.stats().bytesStored);
  t.equal(value('tls_shm_cache_max_value_bytes'), 10240);
  t.equal(value('tls_shm_cache_processes_attached'), 1);
  t.equal(value('tls_shm_cache_ticket_key_generation'), 1);
  t.ok(value('tls_shm_cache_ticket_key_age_seconds')! >= 0);
  t.equal(value('tls_shm_cache_start_time_seconds'), cache.stats().createdAt / 1000);

  const handshakes = byName.get('tls_shm_cache_handshakes_total')!;
  t.equal(handshakes.type, 'COUNTER');
  t.equal(handshakes.metrics.length, 4 * 3, 'one sample per version x outcome');
  for (const m of handshakes.metrics) {
    t.same(Object.keys(m.labels ?? {}).sort(), ['outcome', 'version']);
  }
  t.equal(value('tls_shm_cache_handshakes_total', { version: 'TLSv1.2', outcome: 'cache' }), 9);
  t.equal(value('tls_shm_cache_handshakes_total', { version: 'TLSv1.3', outcome: 'ticket' }), 4);
  t.equal(value('tls_shm_cache_handshakes_total', { version: 'TLSv1.3', outcome: 'full' }), 2);
  t.equal(value('tls_shm_cache_handshakes_total', { version: 'TLSv1.2', outcome: 'full' }), 0);
});

t.test('the ticket key age is absent from /metrics while there is no key', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  const families = parsePrometheus((await request(`${url}/metrics`)).body);
  const age = families.find((f) => f.name === 'tls_shm_cache_ticket_key_age_seconds');
  t.ok(age, 'the family is announced');
  t.equal(age!.metrics.length, 0, 'with no sample');
});

t.test('HEAD returns the headers of GET without a body', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  for (const p of ['/stats', '/metrics']) {
    const head = await request(`${url}${p}`, 'HEAD');
    t.equal(head.status, 200, `HEAD ${p}`);
    t.equal(head.body, '');
    t.ok(Number(head.headers['content-length']) > 100, `HEAD ${p} announces the length of the GET body`);
    t.equal(head.headers['cache-control'], 'no-store');
  }
});

t.test('unknown paths are 404', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  for (const p of ['/', '/stats/', '/STATS', '/metrics.txt', '/favicon.ico', '/stats/../metrics/x', '/__proto__', '/constructor']) {
    const res = await request(`${url}${p}`);
    t.equal(res.status, 404, `GET ${p}`);
  }
  const res = await request(`${url}/stats?pretty=1`);
  t.equal(res.status, 200, 'a query string does not change the path');
});

t.test('methods other than GET and HEAD are 405 with an Allow header', async (t) => {
  const cache = newCache(t);
  const url = await serve(t, cache);
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    for (const p of ['/stats', '/metrics']) {
      const res = await request(`${url}${p}`, method);
      t.equal(res.status, 405, `${method} ${p}`);
      t.equal(res.headers.allow, 'GET, HEAD');
    }
  }
});

t.test('no response ever contains stored keys or session bytes, the ticket key or the segment handle', async (t) => {
  const cache = newCache(t, { blocksize: 1024 });
  const url = await serve(t, cache);
  const sessionId = Buffer.concat([Buffer.from('SESSION-ID-'), crypto.randomBytes(21)]);
  const session = Buffer.concat([Buffer.from('MASTER-SECRET-'), crypto.randomBytes(200)]);
  const ticketKey = crypto.randomBytes(256);
  t.equal(cache.set(sessionId, session), true);
  t.ok(cache.get(sessionId));
  t.ok(cache.setTicketRing(ticketKey, 0b1111) > 0);

  const secrets: Array<[string, Buffer]> = [
    ['session id', sessionId],
    ['session bytes', session],
    ...[0, 1, 2, 3].flatMap((slot): Array<[string, Buffer]> => [
      [`ticket key ${slot} name`, ticketKey.subarray(slot * 64, slot * 64 + 16)],
      [`ticket key ${slot} hmac`, ticketKey.subarray(slot * 64 + 16, slot * 64 + 48)],
      [`ticket key ${slot} aes`, ticketKey.subarray(slot * 64 + 48, slot * 64 + 64)],
    ]),
  ];
  const forms = (b: Buffer): string[] => {
    // Whole, and a 16-byte piece from the middle: a partial leak is a leak.
    const piece = b.subarray(Math.floor(b.length / 2) - 8, Math.floor(b.length / 2) + 8);
    return [b, piece].flatMap((x) => [
      x.toString('hex'),
      x.toString('hex').toUpperCase(),
      x.toString('base64'),
      x.toString('base64url'),
      x.toString('latin1'),
      JSON.stringify([...x]).slice(1, -1),
    ]);
  };
  for (const p of ['/stats', '/metrics']) {
    const body = (await request(`${url}${p}`)).body;
    t.ok(body.length > 100, `${p} answered`);
    for (const [what, secret] of secrets) {
      const found = forms(secret).filter((f) => body.includes(f));
      t.same(found.length, 0, `${p} does not contain the ${what} in any encoding`);
    }
    t.notOk(body.includes(cache.handle), `${p} does not contain the segment handle`);
    t.notOk(body.includes(cache.handle.replace(/^shm:\//, '')), `${p} does not contain the segment name`);
    t.notOk(body.includes('SESSION-ID') || body.includes('MASTER-SECRET'), `${p} has none of the marker text`);
  }
});

t.test('a closed cache answers 503; close() ends keep-alive connections and can be called twice', async (t) => {
  const cache = SharedCache.create({ items: 8, blocksize: 64, timeout: 60 });
  const server = startStatsServer(() => cache.stats());
  const url = await server.ready;
  cache.close();
  const res = await request(`${url}/stats`);
  t.equal(res.status, 503);
  t.match(res.body, /closed/);

  // A keep-alive connection that stays open must not hold close() up.
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.write('GET /stats HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  await new Promise((r) => socket.once('data', r));
  const closedSocket = new Promise((r) => socket.once('close', r));
  await Promise.all([server.close(), server.close()]);
  await closedSocket;
  const refused = await request(`${url}/stats`).then(
    () => 'answered',
    (e: NodeJS.ErrnoException) => e.code,
  );
  t.equal(refused, 'ECONNREFUSED');
});
