/**
 * The statistics of a real cluster (setupSharedCache in the primary, two
 * workers with attachSharedCache) driven by real TLS clients: what /stats,
 * /metrics and `tls-shm-cache stats` report must be what the clients saw.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import t from 'tap';
import type { StatsDocument } from '../../src/index';
import { FIXTURES, getJson, parsePrometheus, request, runCli, waitFor } from './fixtures/helpers';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { nodeRequest, opensslReconnect } from '../tls/fixtures/clients';
import path from 'node:path';

type Message = { type: string; [field: string]: unknown };

t.test('a two-worker cluster: /stats counts the handshakes and resumptions the clients saw', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(() => cert.cleanup());
  const primary = spawn(process.execPath, [...process.execArgv, path.join(FIXTURES, 'cluster.ts'), '2'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, STATS_TEST_KEY: cert.keyPath, STATS_TEST_CERT: cert.certPath },
  });
  const exited = new Promise((r) => primary.once('exit', r));
  t.teardown(async () => {
    if (primary.exitCode !== null || primary.signalCode !== null) return;
    primary.kill('SIGTERM');
    const kill = setTimeout(() => primary.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
  });
  const messages: Message[] = [];
  readline.createInterface({ input: primary.stdout! }).on('line', (line) => messages.push(JSON.parse(line) as Message));

  const statsMessage = await waitFor(() => messages.find((m) => m.type === 'stats'), 'the stats URL', 60_000);
  await waitFor(() => messages.filter((m) => m.type === 'listening').length === 2, 'two workers listening', 60_000);
  const url = statsMessage.url as string;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'served on loopback');
  const port = messages.find((m) => m.type === 'listening')!.port as number;
  const read = () => getJson<StatsDocument>(`${url}/stats`);

  const before = await read();
  t.equal(before.processes.attached, 3, 'the primary and two workers');
  t.ok(before.ticketKey.generation >= 1, 'the primary published a ticket key');
  t.equal(before.handshakeTotals.total, 0);

  // TLS 1.2, session IDs only: each s_client run is one new session and five reconnections.
  const seen: Array<'New' | 'Reused'> = [];
  for (let run = 0; run < 3; run++) seen.push(...(await opensslReconnect(port, ['-no_ticket', '-tls1_2'])));
  const reused12 = seen.filter((s) => s === 'Reused').length;
  const new12 = seen.length - reused12;
  t.equal(seen.length, 18, 'openssl reported 18 handshakes');
  t.ok(reused12 >= 1, `openssl resumed ${reused12} of 18 from the shared cache`);

  const after12 = await waitFor(
    async () => {
      const d = await read();
      return d.handshakes['TLSv1.2'].total === seen.length && d;
    },
    'the TLS 1.2 handshakes to be counted',
  );
  t.equal(after12.handshakes['TLSv1.2'].cache, reused12, 'TLSv1.2 cache = what openssl saw resumed');
  t.equal(after12.handshakes['TLSv1.2'].full, new12, 'TLSv1.2 full = what openssl saw new');
  t.equal(after12.handshakes['TLSv1.2'].ticket, 0, 'no tickets with -no_ticket');
  t.equal(after12.handshakes['TLSv1.2'].resumptionRate, Math.round((reused12 / 18) * 1e4) / 1e4);
  t.ok(after12.cache.hits - before.cache.hits >= reused12, `hits ${after12.cache.hits} >= ${reused12} resumptions`);
  t.ok(after12.cache.sets - before.cache.sets >= new12, 'each new session was stored');
  t.ok(after12.capacity.used >= 1);
  const servers = messages.filter((m) => m.type === 'handshake' && m.protocol === 'TLSv1.2');
  t.equal(servers.filter((m) => m.reused).length, reused12, 'the workers agree with the clients');
  const resumedBy = new Set(servers.filter((m) => m.reused).map((m) => m.pid));
  t.equal(resumedBy.size, 2, 'both workers resumed sessions (the cache is shared, not per worker)');

  // TLS 1.3 with tickets: Node's client offering the last ticket each time.
  let session: Buffer | undefined;
  let reused13 = 0;
  const N13 = 6;
  for (let i = 0; i < N13; i++) {
    const r = await nodeRequest(port, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', session });
    t.equal(r.protocol, 'TLSv1.3');
    if (r.reused) reused13++;
    session = r.session;
  }
  t.ok(reused13 >= 1, `node resumed ${reused13} of ${N13} TLS 1.3 connections by ticket`);
  const after13 = await waitFor(
    async () => {
      const d = await read();
      return d.handshakes['TLSv1.3'].total === N13 && d;
    },
    'the TLS 1.3 handshakes to be counted',
  );
  t.equal(after13.handshakes['TLSv1.3'].ticket, reused13, 'TLSv1.3 ticket = what node saw resumed');
  t.equal(after13.handshakes['TLSv1.3'].full, N13 - reused13);
  t.equal(after13.handshakes['TLSv1.3'].cache, 0, 'Node never resumes TLS 1.3 from a store');
  t.ok(after13.tls13SessionsSkipped > 0, 'TLS 1.3 sessions were offered to the store and skipped');
  t.equal(after13.handshakeTotals.total, 18 + N13);
  t.equal(after13.handshakeTotals.resumed, reused12 + reused13);

  // The same figures in Prometheus form.
  const families = parsePrometheus((await request(`${url}/metrics`)).body);
  const hs = families.find((f) => f.name === 'tls_shm_cache_handshakes_total')!;
  const sample = (version: string, outcome: string) =>
    Number(hs.metrics.find((m) => m.labels?.version === version && m.labels?.outcome === outcome)?.value);
  t.equal(sample('TLSv1.2', 'cache'), reused12);
  t.equal(sample('TLSv1.2', 'full'), new12);
  t.equal(sample('TLSv1.3', 'ticket'), reused13);

  // And in the command's table.
  const cli = await runCli(t, ['stats', '--url', url]);
  t.equal(cli.code, 0, cli.stderr);
  t.match(cli.stdout, new RegExp(`^TLSv1\\.2\\s+${new12}\\s+${reused12}\\s+0\\s+18\\s+[\\d.]+%$`, 'm'));
  t.match(cli.stdout, /^processes\s+3 attached/m);
});
