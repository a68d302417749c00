'use strict';
// npm run bench:native [-- --items 10000 --ms 1000 --rounds 3 --jsDuration 1 --waitIdle 0.85 --results DIR]
//
// The native benchmark: builds native/bench/bench.cc (optimised, no
// sanitizers; native/bench/build.sh) and runs it in a process of its own. It
// prints ns per operation, median and p99, for the shm table's get and set on a
// warm segment (32-byte keys, 160- and 1,000-byte values), two processes
// reading at once, the write lock, and the floor of any IPC design: a
// request/response round trip (32-byte key out, 160-byte answer back) over a
// Unix domain socket and over pipes between two processes.
//
// Beside it, this process measures the same get and set from JavaScript, on
// the same kind of table, in two layers: the plain bound Node-API functions
// (binding getInto / set: one N-API call each) and SharedCache.get / set (the
// public API: argument checks and the value's Buffer view on top). The
// difference between a binding call and the C++ operation is what the N-API
// call costs; the rest is the JavaScript wrapper.
// Writes <results>/native.json, native.md and native.svg, and prints the table.
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parseArgs } = require('../lib/args');
const { describeMachine } = require('../lib/machine');
const { DEFAULT_DIR, publishResult, runMain } = require('../lib/results');
const { summarize, median, round } = require('../lib/summary');
const { makeKeys, makeValue, makeOrder } = require('../lib/workload');
const { timerOverheadNs, batchFor, timeGets, timeSets } = require('../micro/measure');
const { waitForIdle } = require('../lib/idle');

const ROOT = path.join(__dirname, '..', '..');

const DEFAULTS = {
  /** Keys in the warm table (the table has twice as many slots: every get hits). */
  items: 10000,
  /** Milliseconds per timed round of each native case. */
  ms: 1000,
  /** Rounds per case; figures are medians over rounds. */
  rounds: 3,
  /** Seconds per timed round of each JavaScript case. */
  jsDuration: 1,
  /** Before starting, wait (up to 90 s) until the CPUs are this idle over a second (0 = don't wait): the machine is shared. */
  waitIdle: 0.85,
  results: DEFAULT_DIR,
  name: 'native',
};

/** Builds (if stale) and runs the C++ benchmark; returns its JSON. */
function runNative(args) {
  const bin = execFileSync('bash', [path.join(ROOT, 'native', 'bench', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const out = execFileSync(bin, ['--items', String(args.items), '--ms', String(args.ms), '--rounds', String(args.rounds)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  return JSON.parse(out);
}

/** Times get and set from JavaScript on a fresh segment of `blocksize`, through the binding and through SharedCache. */
function runJs(args, valueBytes, blocksize) {
  const { SharedCache } = require(path.join(ROOT, 'dist'));
  const { loadNative } = require(path.join(ROOT, 'dist', 'core', 'native'));
  const keys = makeKeys(args.items, 32);
  const value = makeValue(valueBytes);
  const order = makeOrder(args.items, 1 << 16, 0x9e3779b9);
  const overheadNs = timerOverheadNs();
  const ttlMs = 3600 * 1000;

  const shared = SharedCache.create({ items: args.items * 2, blocksize, blocks: args.items * 2, timeout: 3600, maxKeyLength: 64 });
  // One block per item and values up to blocksize: the shape this row has always timed.
  const raw = loadNative().create(args.items * 2, blocksize, args.items * 2, blocksize, 64, 3600).cache;
  const slab = Buffer.allocUnsafeSlow(blocksize);
  raw.setSlab(slab);
  for (const key of keys) {
    shared.set(key, value);
    raw.set(key, value, ttlMs);
  }
  // The binding's calls as the same { get, set } shape the timing loops take.
  // getInto always writes at offset 0: one N-API call, no Buffer made.
  const binding = {
    get: (key) => (raw.getInto(key, 0) >= 0 ? true : undefined),
    set: (key, v) => raw.set(key, v, ttlMs) <= 1,
  };
  const durationNs = args.jsDuration * 1e9;
  const measure = (store, op) => {
    const timed = (batch, ns) => (op === 'get' ? timeGets(store, keys, order, batch, ns, overheadNs) : timeSets(store, keys, order, value, batch, ns, overheadNs));
    const warm = timed(64, Math.max(0.05e9, durationNs / 4));
    const batch = batchFor(warm.elapsedNs / warm.ops);
    const rounds = [];
    for (let r = 0; r < args.rounds; r++) {
      const t = timed(batch, durationNs);
      const s = summarize(t.perOpNs);
      rounds.push({ medianNs: s.median, p99Ns: s.p99, opsPerSec: t.ops / (t.elapsedNs / 1e9), okRatio: t.hits / t.ops });
    }
    return {
      medianNs: round(median(rounds.map((r) => r.medianNs))),
      p99Ns: round(median(rounds.map((r) => r.p99Ns))),
      opsPerSec: round(median(rounds.map((r) => r.opsPerSec))),
      okRatio: Math.min(...rounds.map((r) => r.okRatio)),
      batch,
    };
  };
  const out = [];
  try {
    for (const op of ['get', 'set']) {
      out.push({ layer: 'binding', op, valueBytes, ...measure(binding, op) });
      out.push({ layer: 'SharedCache', op, valueBytes, ...measure(shared, op) });
    }
  } finally {
    shared.close();
    raw.close();
  }
  return { timerOverheadNs: overheadNs, cases: out };
}

async function main() {
  const args = parseArgs(process.argv.slice(2), DEFAULTS);
  for (const k of ['items', 'ms', 'rounds']) {
    if (!(Number.isInteger(args[k]) && args[k] > 0)) throw new Error(`--${k} takes a positive integer`);
  }
  const quiet = await waitForIdle(args.waitIdle);
  const machine = describeMachine();
  const startedAt = new Date().toISOString();
  process.stderr.write('native: C++ cases...\n');
  const native = runNative(args);
  process.stderr.write('native: JavaScript cases...\n');
  const js = [];
  for (const [valueBytes, blocksize] of [[160, 256], [1000, 1024]]) {
    const r = runJs(args, valueBytes, blocksize);
    js.push(...r.cases);
  }
  const result = {
    benchmark: 'native',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAfter: describeMachine().loadAverage },
    parameters: { items: args.items, ms: args.ms, rounds: args.rounds, jsDuration: args.jsDuration, keyBytes: 32, waitIdle: args.waitIdle },
    idleBefore: quiet.idle,
    method:
      'C++ (native/bench/bench.cc, g++ -O2, no sanitizers): table operations timed in batches of ~20 µs with CLOCK_MONOTONIC; ' +
      'per-op = (batch time - clock overhead) / batch size; median and p99 over batches (p99 of batch averages); round trips ' +
      'to another process timed one by one. JavaScript: the same batch method with process.hrtime.bigint() (bench/micro/measure.js), ' +
      'in one process, on a table of the same shape. Each figure is the median over rounds.',
    native,
    js,
  };
  await publishResult(args.results, args.name, result);
}

runMain(main);
