'use strict';
// npm run bench:tls [-- --workers 2 (or a sweep: 1,2,3) --duration 3 --warmup 1 --stores none,map,ipc,shm,shm-single
//                      --clients tls12-id,tls13-ticket,tls12-ticket,tls13-single --balancers rr,handoff --concurrency 1,10 --repeat N --waitIdle 0.85 --results DIR]
//
// TLS handshake benchmark: a real cluster (server.js, its own process tree)
// and a load generator (client.js: openssl s_time processes) opening new TLS
// connections and resuming their session each time, for each cell of
// worker count x store x client kind x balancer x concurrency. Per cell:
// handshakes/s and resumption rate counted by the servers over a fixed window
// after a warm-up, server CPU per handshake of the workers and of the primary
// separately, and the session lookups and stores per handshake.
// `--workers 1,2,3` sweeps the cluster's size; the tables show the largest.
// Writes <results>/tls.json, tls.md and tls.svg, and prints the tables.
const { fork } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { parseArgs, list } = require('../lib/args');
const { describeMachine } = require('../lib/machine');
const { DEFAULT_DIR, publishResult, runMain } = require('../lib/results');
const { packageVersion } = require('../lib/versions');
const { round } = require('../lib/summary');
const { makeCertificate } = require('./cert');
const { startClients, KINDS } = require('./client');
const { DEFAULT_NAMES: STORES, loadStore, measured } = require('./stores');
const { balancers, NAMES: BALANCERS } = require('./balancers');
const { waitForIdle } = require('../lib/idle');

const DEFAULTS = {
  /** Worker processes of the cluster; a list sweeps them (1,2,3). */
  workers: '2',
  /** Seconds of the measured window of each cell. */
  duration: 3,
  /** Seconds of load before the window opens. */
  warmup: 1,
  stores: STORES.join(','),
  clients: Object.keys(KINDS).join(','),
  balancers: BALANCERS.join(','),
  concurrency: '1,10',
  /** Times the whole matrix is run; figures are medians over repeats. */
  repeat: 1,
  results: DEFAULT_DIR,
  name: 'tls',
  /** Before each cell, wait (up to 90 s) until the CPUs are this idle over a second (0 = don't wait): the machine is shared. */
  waitIdle: 0.85,
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts server.js; resolves to { port, snapshot(), stop() }. */
async function startServer(params) {
  const child = fork(path.join(__dirname, 'server.js'), [JSON.stringify(params)], { stdio: 'inherit' });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal || code)));
  const next = (type) =>
    new Promise((resolve, reject) => {
      const onMessage = (msg) => {
        if (msg.type !== type) return;
        child.off('message', onMessage);
        resolve(msg);
      };
      child.on('message', onMessage);
      exited.then((how) => reject(new Error(`TLS server exited (${how}) while waiting for '${type}'`)));
    });
  const ready = await withTimeout(next('ready'), 30000, 'TLS server start');
  return {
    port: ready.port,
    snapshot: () => {
      const p = next('snapshot');
      child.send({ cmd: 'snapshot' });
      return withTimeout(p, 10000, 'snapshot');
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.send({ cmd: 'stop' });
        try {
          await withTimeout(exited, 10000, 'TLS server stop');
        } catch {
          child.kill('SIGKILL');
          await exited;
        }
      }
    },
    kill: () => child.kill('SIGKILL'),
  };
}

const cpuUs = (c) => c.user + c.system;

/** The cell's figures from two snapshots of the server. */
function figures(a, b) {
  const seconds = Number(BigInt(b.atNs) - BigInt(a.atNs)) / 1e9;
  let handshakes = 0;
  let resumed = 0;
  let clientErrors = 0;
  let workerCpu = 0;
  let lookups = 0;
  let stores = 0;
  const perWorker = [];
  const byProtocol = {};
  for (const wb of b.workers) {
    const wa = a.workers.find((w) => w.pid === wb.pid);
    const h = wb.handshakes - wa.handshakes;
    handshakes += h;
    resumed += wb.resumed - wa.resumed;
    clientErrors += wb.clientErrors - wa.clientErrors;
    workerCpu += cpuUs(wb.cpu) - cpuUs(wa.cpu);
    lookups += wb.lookups - wa.lookups;
    stores += wb.stores - wa.stores;
    perWorker.push(h);
    for (const [proto, row] of Object.entries(wb.byProtocol)) {
      const before = wa.byProtocol[proto] || { handshakes: 0, resumed: 0 };
      const out = (byProtocol[proto] ||= { handshakes: 0, resumed: 0 });
      out.handshakes += row.handshakes - before.handshakes;
      out.resumed += row.resumed - before.resumed;
    }
  }
  const primaryCpu = cpuUs(b.primaryCpu) - cpuUs(a.primaryCpu);
  return {
    seconds: round(seconds),
    handshakes,
    handshakesPerSec: round(handshakes / seconds),
    resumption: handshakes ? round(resumed / handshakes) : 0,
    cpuUsPerHandshake: handshakes ? round((workerCpu + primaryCpu) / handshakes) : null,
    workerCpuUsPerHandshake: handshakes ? round(workerCpu / handshakes) : null,
    primaryCpuUsPerHandshake: handshakes ? round(primaryCpu / handshakes) : null,
    // Session lookups (resumeSession) and stores (newSession) per handshake.
    lookupsPerHandshake: handshakes ? round(lookups / handshakes) : null,
    storesPerHandshake: handshakes ? round(stores / handshakes) : null,
    serverCpuCores: round((workerCpu + primaryCpu) / 1e6 / seconds),
    perWorkerHandshakes: perWorker,
    byProtocol,
    clientErrors,
  };
}

async function runCell(base, cell) {
  // How busy the (shared) machine was as the cell started: 1-minute load average.
  const loadAverage = Math.round(os.loadavg()[0] * 100) / 100;
  const server = await startServer({ ...base, ...cell });
  let clients;
  try {
    // The clients would run past the window; they are stopped once it closes.
    const seconds = base.warmup + base.duration + 2;
    clients = startClients({ port: server.port, kind: cell.client, concurrency: cell.concurrency, seconds });
    await sleep(base.warmup * 1000);
    const a = await server.snapshot();
    await sleep(base.duration * 1000);
    const b = await server.snapshot();
    clients.kill();
    const c = await withTimeout(clients.done, 15000, 's_time clients');
    return {
      ...cell,
      ...figures(a, b),
      // What the clients saw over their whole run (warm-up included).
      clientConnections: c.connections,
      clientResumption: c.connections ? round(c.resumed / c.connections) : 0,
      clientFailures: c.failed,
      clientErrors: c.errors,
      storeInfo: b.store,
      loadAverage,
    };
  } finally {
    if (clients) clients.kill();
    await server.stop();
  }
}

/** One figure per cell over the repeats: the median repeat by handshakes/s. */
function medianRepeat(runs) {
  const sorted = [...runs].sort((x, y) => x.handshakesPerSec - y.handshakesPerSec);
  const mid = sorted[(sorted.length - 1) >> 1];
  return runs.length === 1 ? mid : { ...mid, repeats: runs.map((r) => ({ handshakesPerSec: r.handshakesPerSec, resumption: r.resumption, cpuUsPerHandshake: r.cpuUsPerHandshake })) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2), DEFAULTS);
  const stores = list(args.stores);
  const clients = list(args.clients);
  const chosenBalancers = list(args.balancers);
  const concurrency = list(args.concurrency).map(Number);
  const workerCounts = list(args.workers).map(Number);
  for (const w of workerCounts) if (!(Number.isInteger(w) && w >= 1)) throw new Error(`--workers takes positive integers, got '${args.workers}'`);
  for (const s of stores) loadStore(s);
  for (const c of clients) if (!KINDS[c]) throw new Error(`unknown client kind '${c}'`);
  for (const b of chosenBalancers) if (!balancers[b]) throw new Error(`unknown balancer '${b}'`);

  const cert = makeCertificate();
  const machine = describeMachine();
  const startedAt = new Date().toISOString();
  const base = { duration: args.duration, warmup: args.warmup, keyFile: cert.keyFile, certFile: cert.certFile };
  const runs = new Map();
  try {
    for (let r = 0; r < args.repeat; r++) {
      for (const workers of workerCounts) {
        for (const balancer of chosenBalancers) {
          for (const client of clients) {
            for (const c of concurrency) {
              for (const store of stores) {
                if (!measured(store, client, KINDS)) continue;
                const cell = { workers, store, balancer, client, concurrency: c };
                process.stderr.write(`tls: ${workers}w / ${store} / ${client} / ${balancer} / c=${c}${args.repeat > 1 ? ` (repeat ${r + 1})` : ''}... `);
                const quiet = await waitForIdle(args.waitIdle);
                const out = { ...(await runCell(base, cell)), idleBefore: quiet.idle, waitedForIdleS: quiet.waitedS };
                process.stderr.write(`${out.handshakesPerSec} handshakes/s, ${(out.resumption * 100).toFixed(1)} % resumed\n`);
                const key = JSON.stringify(cell);
                if (!runs.has(key)) runs.set(key, []);
                runs.get(key).push(out);
              }
            }
          }
        }
      }
    }
  } finally {
    cert.cleanup();
  }
  const result = {
    benchmark: 'tls',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAfter: describeMachine().loadAverage },
    parameters: { workers: workerCounts, duration: args.duration, warmup: args.warmup, repeat: args.repeat, stores, clients, balancers: chosenBalancers, concurrency, waitIdle: args.waitIdle },
    labels: {
      stores: Object.fromEntries(stores.map((s) => [s, loadStore(s).label])),
      clients: Object.fromEntries(clients.map((c) => [c, KINDS[c].label])),
      balancers: Object.fromEntries(chosenBalancers.map((b) => [b, balancers[b].label])),
    },
    versions: {
      'strong-cluster-tls-store': packageVersion('strong-cluster-tls-store'),
      'strong-store-cluster': packageVersion('strong-store-cluster'),
    },
    method:
      'Load: `concurrency` openssl s_time -reuse -www / processes in parallel (C client, little CPU per connection); each resumes ' +
      'its session on every new connection. Server: Node cluster, RSA-2048 certificate, one tiny HTTP response per connection. ' +
      'Handshakes and resumptions are counted by the workers (secureConnection, isSessionReused) over a window that opens after ' +
      'the warm-up; CPU per handshake = process.cpuUsage() of workers and primary over the window / handshakes. The client ' +
      'shares the machine, so handshakes/s is bounded by both. "TLS 1.3, each ticket used once" is a Node client ' +
      '(single-use-client.js; s_time keeps offering the ticket it holds), measured against the ticket stores only.',
    cells: [...runs.values()].map(medianRepeat),
  };
  await publishResult(args.results, args.name, result);
}

runMain(main);
