'use strict';
// The cross-host tier, measured: two hosts (two clusters) behind a client that
// alternates between them, without and with the remote tier, on one real
// redis-server; and the worker-side cost of storing a session with and without
// the outbox append (A/B of two builds of the addon, same JavaScript).
//
//   node bench/remote/run.js [--seconds 10] [--clients 64] [--concurrency 8] [--freshEvery 4] [--workers 1]
//                            [--setOps 200000] [--rounds 5] [--baseBinding PATH] [--no-hosts]
//
// --baseBinding: an addon built from the commit before the outbox (e.g. main's
// build/Release/tls_shm_cache.node) for the A/B of set(); without it that row is skipped.
//
// Prints a markdown table and writes bench/results/remote.json.
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { parseArgs } = require('../lib/args');

const args = parseArgs(process.argv.slice(2), {
  seconds: 10,
  clients: 64,
  concurrency: 8,
  freshEvery: 4,
  workers: 1,
  setOps: 200000,
  rounds: 5,
  baseBinding: '',
  hosts: true,
  out: path.join(__dirname, '..', 'results', 'remote.json'),
});

const SECRET = 'benchmark secret, at least sixteen bytes';
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function redisInfo(port) {
  const text = execFileSync('redis-cli', ['-p', String(port), 'INFO'], { encoding: 'utf8' });
  const get = (k) => Number((new RegExp(`^${k}:([0-9.]+)`, 'm').exec(text) || [])[1] || 0);
  return { cpu: get('used_cpu_user') + get('used_cpu_sys'), netIn: get('total_net_input_bytes'), netOut: get('total_net_output_bytes') };
}

function startHost(dir, setup, workers) {
  const child = spawn(process.execPath, [path.join(__dirname, 'host.js')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_REMOTE_HOST: JSON.stringify({ setup, workers, port: 0, keyPath: path.join(dir, 'key.pem'), certPath: path.join(dir, 'cert.pem') }) },
  });
  return new Promise((resolve) => {
    child.on('message', (m) => {
      if (m.type === 'ready') resolve({ child, port: m.port });
    });
  });
}

function ask(host) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.type === 'stats') {
        host.child.off('message', on);
        resolve(m);
      }
    };
    host.child.on('message', on);
    host.child.send({ cmd: 'stats' });
  });
}

function handshake(port, session) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, session, maxVersion: 'TLSv1.2' });
    let newSession;
    socket.on('session', (s) => (newSession = s));
    socket.on('secureConnect', () => {
      const reused = socket.isSessionReused();
      socket.end();
      socket.on('close', () => resolve({ ok: true, reused, session: newSession ?? session }));
    });
    socket.on('error', () => resolve({ ok: false, reused: false, session: undefined }));
  });
}

/**
 * `clients` virtual clients, each with its own session, sent to the hosts
 * alternately; every `freshEvery`-th connection is a new client (no session
 * offered: a full handshake and a new session to replicate).
 */
async function drive(ports, seconds, clients, concurrency) {
  const sessions = new Array(clients).fill(undefined);
  const turn = new Array(clients).fill(0);
  let total = 0, resumed = 0, offered = 0, errors = 0, next = 0;
  const deadline = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const n = next++;
        const c = n % clients;
        if (n % args.freshEvery === 0) sessions[c] = undefined;
        const port = ports[turn[c]++ % ports.length];
        if (sessions[c]) offered++;
        const r = await handshake(port, sessions[c]);
        total++;
        if (!r.ok) errors++;
        if (r.reused) resumed++;
        sessions[c] = r.session;
      }
    }),
  );
  return { total, resumed, offered, errors, seconds: (Date.now() - started) / 1000 };
}

async function twoHosts(withRemote) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-remote-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  while (spawnSync('redis-cli', ['-p', String(redisPort), 'PING'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') await sleep(50);
  const setup = withRemote ? { remote: { url: `redis://127.0.0.1:${redisPort}`, secret: SECRET } } : {};
  const hosts = [await startHost(dir, setup, args.workers), await startHost(dir, setup, args.workers)];
  await sleep(1000);
  // Warm-up: every client gets a session.
  await drive(hosts.map((h) => h.port), 1, args.clients, args.concurrency);
  await sleep(500);
  const before = redisInfo(redisPort);
  const primariesBefore = await Promise.all(hosts.map(ask));
  const r = await drive(hosts.map((h) => h.port), args.seconds, args.clients, args.concurrency);
  await sleep(500);
  const after = redisInfo(redisPort);
  const stats = await Promise.all(hosts.map(ask));
  let streamBytes = 0, streamLength = 0;
  if (withRemote) {
    streamLength = Number(spawnSync('redis-cli', ['-p', String(redisPort), 'XLEN', 'tls-shm-cache:sessions'], { encoding: 'utf8' }).stdout.trim());
    streamBytes = Number(spawnSync('redis-cli', ['-p', String(redisPort), 'MEMORY', 'USAGE', 'tls-shm-cache:sessions'], { encoding: 'utf8' }).stdout.trim());
  }
  for (const h of hosts) h.child.send({ cmd: 'exit' });
  await sleep(500);
  redis.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  const published = stats.reduce((n, s) => n + (s.remote ? s.remote.published : 0), 0) - primariesBefore.reduce((n, s) => n + (s.remote ? s.remote.published : 0), 0);
  const applied = stats.reduce((n, s) => n + (s.remote ? s.remote.applied : 0), 0) - primariesBefore.reduce((n, s) => n + (s.remote ? s.remote.applied : 0), 0);
  // CPU of the two primaries (where the tier runs), user + system, in seconds.
  const primaryCpu = stats.reduce((n, s, i) => n + (s.cpu.user + s.cpu.system - primariesBefore[i].cpu.user - primariesBefore[i].cpu.system) / 1e6, 0);
  const lags = stats.filter((s) => s.remote && s.remote.lagMs).map((s) => s.remote.lagMs);
  return {
    remote: withRemote,
    handshakes: r.total,
    handshakesPerSecond: Math.round(r.total / r.seconds),
    resumptionRate: r.resumed / r.total,
    offeredResumedRate: r.resumed / r.offered,
    errors: r.errors,
    published,
    applied,
    primaryCpuSeconds: primaryCpu,
    lagP50Ms: lags.length ? Math.max(...lags.map((l) => l.p50)) : null,
    lagP99Ms: lags.length ? Math.max(...lags.map((l) => l.p99)) : null,
    redisCpuSeconds: after.cpu - before.cpu,
    redisNetInBytes: after.netIn - before.netIn,
    redisNetOutBytes: after.netOut - before.netOut,
    streamBytesPerEntry: streamLength ? streamBytes / streamLength : null,
  };
}

/** ns per set() of a 32-byte session ID key and a 160-byte value, in a child with `binding`. */
function setCost(binding) {
  const code = `
    const { SharedCache } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'index.js'))});
    const c = SharedCache.create({ items: 20000, timeout: 300 });
    const n = ${args.setOps}; const key = Buffer.alloc(32, 7); const value = Buffer.alloc(160, 1);
    for (let i = 0; i < 20000; i++) { key.writeUInt32LE(i, 0); c.set(key, value); }
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) { key.writeUInt32LE(i, 0); c.set(key, value); }
    console.log(Number(process.hrtime.bigint() - t0) / n);`;
  const env = { ...process.env };
  if (binding) env.TLS_SHM_CACHE_BINDING = binding;
  return Number(execFileSync(process.execPath, ['-e', code], { env, encoding: 'utf8' }).trim());
}

async function main() {
  const results = { machine: { cpus: os.cpus().length, load: os.loadavg()[0] }, args, setCost: null, rows: [] };
  if (args.baseBinding) {
    const base = [], outbox = [];
    for (let i = 0; i < args.rounds; i++) {
      base.push(setCost(args.baseBinding));
      outbox.push(setCost(''));
    }
    const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    // On a shared, loaded machine the fastest round is the one least disturbed: report it beside the medians.
    results.setCost = { baseNs: median(base), outboxNs: median(outbox), deltaNs: median(outbox.map((v, i) => v - base[i])), baseMinNs: Math.min(...base), outboxMinNs: Math.min(...outbox), base, outbox };
  }
  if (args.hosts) {
    results.rows.push(await twoHosts(false));
    results.rows.push(await twoHosts(true));
  }
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(results, null, 2) + '\n');
  const pct = (x) => (x * 100).toFixed(1) + ' %';
  console.log('| tier | handshakes/s | resumed (of all / of sessions offered) | errors | lag p50 | lag p99 | sessions published | Redis CPU per session | Redis bytes in / out per session | stream bytes per entry | primaries CPU per session published+applied |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results.rows) {
    const per = r.published ? r : null;
    const us = (sec, n) => ((sec / n) * 1e6).toFixed(1) + ' µs';
    console.log(`| ${r.remote ? 'remote' : 'none'} | ${r.handshakesPerSecond} | ${pct(r.resumptionRate)} / ${pct(r.offeredResumedRate)} | ${r.errors} | ${r.lagP50Ms ?? '–'} ms | ${r.lagP99Ms ?? '–'} ms | ${r.published} | ${per ? us(r.redisCpuSeconds, r.published) : '–'} | ${per ? Math.round(r.redisNetInBytes / r.published) + ' / ' + Math.round(r.redisNetOutBytes / r.published) : '–'} | ${r.streamBytesPerEntry ? Math.round(r.streamBytesPerEntry) : '–'} | ${per ? us(r.primaryCpuSeconds, r.published + r.applied) : '–'} |`);
  }
  if (results.setCost) {
    const c = results.setCost;
    console.log(`\nset() per session, median of ${args.rounds} rounds: ${c.baseNs.toFixed(1)} ns without the outbox, ${c.outboxNs.toFixed(1)} ns with it (median paired difference ${c.deltaNs.toFixed(1)} ns); fastest round: ${c.baseMinNs.toFixed(1)} vs ${c.outboxMinNs.toFixed(1)} ns`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
