/**
 * `tls-shm-cache stats` run as a real process against a real stats endpoint:
 * the table, --json, --watch (piped, and in a real terminal under tmux), what
 * it says and how it exits when the endpoint cannot be read, and how it
 * refuses bad arguments.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';
import t, { Test } from 'tap';
import { SharedCache, startStatsServer, type StatsDocument } from '../../src/index';
import { handshakeCounter } from '../../src/core/counters';
import { cliArgv, closedPort, getJson, ROOT, runCli, shellQuote, tmuxAvailable, waitFor } from '../stats/fixtures/helpers';

interface Served {
  cache: SharedCache;
  url: string;
  close(): Promise<void>;
}

/** A cache with known traffic behind a real stats server: 25 hits, 7 misses, 8 TLS 1.2 handshakes (6 from the cache). */
async function served(t: Test): Promise<Served> {
  const cache = SharedCache.create({ items: 200, blocksize: 256, timeout: 60 });
  t.teardown(() => cache.close());
  for (let i = 0; i < 25; i++) cache.set(Buffer.from(`k${i}`), Buffer.from('v'));
  for (let i = 0; i < 25; i++) cache.get(Buffer.from(`k${i}`));
  for (let i = 0; i < 7; i++) cache.get(Buffer.from(`absent${i}`));
  cache.count(handshakeCounter('TLSv1.2', 'full'), 2);
  cache.count(handshakeCounter('TLSv1.2', 'cache'), 6);
  const server = startStatsServer(() => cache.stats());
  t.teardown(() => server.close());
  return { cache, url: await server.ready, close: () => server.close() };
}

t.test('bad arguments print the usage on stderr and exit 2', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['stats', '--bogus'], /Unknown option '--bogus'/],
    [['stats', '--watch'], /argument missing|--watch/],
    [['stats', '--watch', 'abc'], /--watch takes a number of seconds/],
    [['stats', '--watch', '0'], /--watch takes a number of seconds from 0\.1/],
    [['stats', '--watch', '-1'], /--watch/],
    [['stats', '--timeout', '0'], /--timeout takes a number of seconds/],
    [['stats', '--url', 'ftp://127.0.0.1:9090'], /--url must be an http:\/\/ URL/],
    [['stats', '--url', 'not a url'], /--url must be an http:\/\/ URL/],
    [['stats', 'extra'], /Unexpected argument 'extra'|positional/i],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[], /Usage: tls-shm-cache <command>/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(t, args);
    t.equal(r.code, 2, `${args.join(' ') || '(nothing)'}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: says what is wrong`);
    t.match(r.stderr, /Usage: tls-shm-cache/, `${args.join(' ')}: shows the usage`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

t.test('--help prints the usage on stdout and exits 0', async (t) => {
  const stats = await runCli(t, ['stats', '--help']);
  t.equal(stats.code, 0);
  t.match(stats.stdout, /Usage: tls-shm-cache stats \[--url URL\] \[--watch SECONDS\] \[--json\]/);
  t.match(stats.stdout, /Exit status: 0 done, 1 the endpoint could not be read, 2 bad arguments/);
  const top = await runCli(t, ['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /demo/);
  t.match(top.stdout, /stats/);
  const version = await runCli(t, ['--version']);
  t.equal(version.code, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test('stats prints the counters as a table and exits 0', async (t) => {
  const s = await served(t);
  const r = await runCli(t, ['stats', '--url', s.url]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  t.match(r.stdout, new RegExp(`^tls-shm-cache  ${s.url.replace(/[.]/g, '\\.')}/stats  \\d{4}-\\d\\d-\\d\\dT`));
  t.match(r.stdout, /^lookups\s+32 \(hits 25, misses 7\)$/m);
  t.match(r.stdout, /^hit ratio\s+78\.1%$/m);
  t.match(r.stdout, /^items in use\s+25 of 200 \(12\.5%\)$/m);
  t.match(r.stdout, /^processes\s+1 attached$/m);
  t.match(r.stdout, /^ticket key\s+none/m);
  t.match(r.stdout, /^handshakes\s+full\s+cache\s+ticket\s+total\s+resumed$/m);
  t.match(r.stdout, /^TLSv1\.2\s+2\s+6\s+0\s+8\s+75\.0%$/m);
  t.match(r.stdout, /^TLSv1\.3\s+0\s+0\s+0\s+0\s+-$/m);
  t.notMatch(r.stdout, /^TLSv1\.1/m, 'versions that saw no handshake are left out');
  t.notMatch(r.stdout, /\x1b/, 'no escape codes in a snapshot');
  const width = Math.max(...r.stdout.split('\n').map((l) => l.length));
  t.ok(width <= 80, `fits 80 columns (widest line ${width})`);
});

t.test('--url accepts the base URL or the full /stats URL', async (t) => {
  const s = await served(t);
  const r = await runCli(t, ['stats', '--json', `--url=${s.url}/stats`]);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).cache.hits, 25);
});

t.test('--json prints the document that a script can parse', async (t) => {
  const s = await served(t);
  const r = await runCli(t, ['stats', '--url', s.url, '--json']);
  t.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as StatsDocument;
  const direct = await getJson<StatsDocument>(`${s.url}/stats`);
  t.equal(doc.version, 1);
  t.equal(doc.cache.hits, 25);
  t.equal(doc.cache.misses, 7);
  t.same(doc.handshakes['TLSv1.2'], direct.handshakes['TLSv1.2']);
  t.same(Object.keys(doc).sort(), Object.keys(direct).sort());
});

t.test('an endpoint nobody listens on: a clear message on stderr and exit 1', async (t) => {
  const port = await closedPort();
  for (const extra of [[], ['--json'], ['--watch', '1']]) {
    const r = await runCli(t, ['stats', '--url', `http://127.0.0.1:${port}`, ...extra]);
    t.equal(r.code, 1, `${extra.join(' ')}: exit 1`);
    t.match(r.stderr, new RegExp(`^tls-shm-cache stats: cannot read http://127\\.0\\.0\\.1:${port}/stats: .*ECONNREFUSED`));
    t.match(r.stderr, /is the server running/);
    t.equal(r.stdout, '', 'nothing on stdout');
  }
});

t.test('a URL that is not a stats endpoint: exit 1 saying why', async (t) => {
  const s = await served(t);
  const notFound = await runCli(t, ['stats', '--url', `${s.url}/nope`]);
  t.equal(notFound.code, 1);
  t.match(notFound.stderr, /HTTP 404/);
  const notJson = await runCli(t, ['stats', '--url', `${s.url}/metrics`]);
  t.equal(notJson.code, 1);
  t.match(notJson.stderr, /not JSON; is this a tls-shm-cache stats endpoint\?/);
});

t.test('a server that never answers: exit 1 after --timeout', async (t) => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
  await new Promise((r) => silent.once('listening', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const r = await runCli(t, ['stats', '--url', `http://127.0.0.1:${port}`, '--timeout', '0.5']);
  t.equal(r.code, 1);
  t.match(r.stderr, /no answer within 0\.5 s/);
});

t.test('a newer document version is refused with advice to upgrade', async (t) => {
  const future = http
    .createServer((_req, res) => res.end(JSON.stringify({ version: 2 })))
    .listen(0, '127.0.0.1');
  await new Promise((r) => future.once('listening', r));
  t.teardown(() => future.close());
  const r = await runCli(t, ['stats', '--url', `http://127.0.0.1:${(future.address() as net.AddressInfo).port}`]);
  t.equal(r.code, 1);
  t.match(r.stderr, /version 2; this command reads version 1: upgrade tls-shm-cache/);
});

/** The CLI as a long-running child whose stdout is read line by line. */
function watcher(t: Test, args: string[]) {
  const child = spawn(process.execPath, cliArgv(args), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let stdout = '';
  const lines: string[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, exited, stdout: () => stdout, stderr: () => stderr };
}

t.test('--watch --json prints one document a line, each with the counters of its poll; SIGTERM ends it with 0', async (t) => {
  const s = await served(t);
  const w = watcher(t, ['stats', '--url', s.url, '--watch', '0.2', '--json']);
  await waitFor(() => w.lines.length >= 1, 'the first document');
  const first = JSON.parse(w.lines[0]) as StatsDocument;
  t.equal(first.cache.hits, 25);
  for (let i = 0; i < 10; i++) s.cache.get(Buffer.from(`k${i}`));
  const later = await waitFor(
    () => w.lines.map((l) => JSON.parse(l) as StatsDocument).find((d) => d.cache.hits === 35),
    'a document with the new hits',
  );
  t.ok(later.time > first.time, 'a later poll');
  w.child.kill('SIGTERM');
  t.same(await w.exited, { code: 0, signal: null }, 'a clean exit');
  t.notMatch(w.stdout(), /\x1b/, 'no escape codes when piped');
});

t.test('--watch piped prints frames with per-second rates, and keeps going through an outage', async (t) => {
  const s = await served(t);
  const w = watcher(t, ['stats', '--url', s.url, '--watch', '0.3']);
  await waitFor(() => w.stdout().includes('since start'), 'the first frame');
  t.match(w.stdout(), /^lookups\s+32\s+-\/s$/m, 'no rate before a second poll');
  // Traffic between polls shows up as a rate.
  const until = Date.now() + 15_000;
  let frame: string | undefined;
  while (Date.now() < until && frame === undefined) {
    for (let i = 0; i < 50; i++) s.cache.get(Buffer.from(`k${i % 25}`));
    s.cache.count(handshakeCounter('TLSv1.3', 'ticket'), 5);
    await new Promise((r) => setTimeout(r, 100));
    frame = w
      .stdout()
      .split(/\n(?=tls-shm-cache  )/)
      .find((f) => /^lookups\s+[\d,]+\s+[1-9][\d.]*\/s$/m.test(f) && /^TLSv1\.3\s+0\s+0\s+[1-9]/m.test(f));
  }
  t.ok(frame, 'a frame with a lookup rate above 0 and TLS 1.3 ticket resumptions');
  t.match(frame!, /^hit ratio\s+\d+\.\d%\s+100\.0%$/m, 'every lookup between those polls hit');
  t.match(frame!, /^TLSv1\.3\s+0\s+0\s+[\d,]+\s+[\d.]+\s+100\.0%\s+100\.0%$/m, 'TLS 1.3 resumed 100% in the interval');

  await s.close();
  await waitFor(() => /^! cannot read .*ECONNREFUSED.*retrying\)$/m.test(w.stdout()), 'the outage to be shown');
  t.equal(w.child.exitCode, null, 'still running');
  w.child.kill('SIGINT');
  t.same(await w.exited, { code: 0, signal: null });
});

const noTmux = tmuxAvailable() ? false : 'tmux is not installed';
t.test('the live view in a real terminal (tmux): draws the table, updates in place, q quits', { skip: noTmux }, async (t) => {
  const s = await served(t);
  const socket = `tls-shm-cache-test-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', cwd: ROOT });
  t.teardown(() => tmux('kill-server'));
  const command = [process.execPath, ...cliArgv(['stats', '--url', s.url, '--watch', '0.3'])].map(shellQuote).join(' ');
  const started = tmux('new-session', '-d', '-s', 'live', '-x', '100', '-y', '40', `${command}; echo EXIT=$?; sleep 120`);
  t.equal(started.status, 0, `tmux started: ${started.stderr}`);
  const screen = () => tmux('capture-pane', '-p', '-t', 'live').stdout;

  const first = await waitFor(() => (screen().includes('since start') ? screen() : ''), 'the live view', 30_000);
  t.match(first, /^tls-shm-cache  http:\/\/127\.0\.0\.1:\d+\/stats  every 0\.3 s/m, 'the title names the endpoint');
  t.match(first, /^lookups\s+32\s/m);
  t.match(first, /^TLSv1\.2\s+2\s+6\s+0\s/m);
  t.match(first, /q or Ctrl-C quits/);
  t.equal(first.split('\n').filter((l) => l.startsWith('tls-shm-cache  ')).length, 1, 'one frame on screen');

  for (let i = 0; i < 100; i++) s.cache.get(Buffer.from(`k${i % 25}`));
  const updated = await waitFor(() => (/^lookups\s+132\s+[\d.]+\/s/m.test(screen()) ? screen() : ''), 'the new count', 30_000);
  t.equal(updated.split('\n').filter((l) => l.startsWith('tls-shm-cache  ')).length, 1, 'redrawn in place, not scrolled');
  t.equal(updated.split('\n').filter((l) => l.startsWith('lookups')).length, 1);

  tmux('send-keys', '-t', 'live', 'q');
  const after = await waitFor(() => (screen().includes('EXIT=') ? screen() : ''), 'the command to end', 30_000);
  t.match(after, /EXIT=0/, 'q quits with status 0');
  t.notMatch(after, /since start/, 'the normal screen is back');
});
