'use strict';
// npm run bench:micro [-- --duration 2 --rounds 5 --items 10000 --sizes 160,1024,2048,4096 --workers 1,2
//                        --drivers shm,map,lmdb,ipc --waitIdle 0.85 --results DIR]
//
// Store micro-benchmark: get and set latency (median, p99) and throughput,
// from cluster worker processes, for this project's shared-memory cache, an
// in-process Map, lmdb-js and IPC to the primary (strong-cluster-tls-store),
// at each value size (a typical 160-byte TLS session, then 1, 2 and 4 KB:
// client-certificate sessions), with 1 and 2 worker processes at once, and the
// shm get with a stats poller running. Each (store, worker count) trial runs
// in a fresh process tree and measures every size (trial.js says in which order).
// Writes <results>/micro.json, micro.md and micro.svg, and prints the table.
const { fork } = require('node:child_process');
const path = require('node:path');
const { parseArgs, list } = require('../lib/args');
const { describeMachine } = require('../lib/machine');
const { DEFAULT_DIR, publishResult, runMain } = require('../lib/results');
const { NAMES } = require('./drivers');
const { waitForIdle } = require('../lib/idle');

const DEFAULTS = {
  /** Seconds per timed phase, per worker. */
  duration: 1.5,
  /** Seconds of unmeasured warm-up before an op's first phase. */
  warmup: 0.5,
  /** Rounds of (get, get with stats poller, set); the figures are medians over rounds. */
  rounds: 5,
  /** Items in the warm table (all gets hit). */
  items: 10000,
  /** Slots of the shm table (0 = twice the items); its blocks are sized from it (drivers/shm.js). */
  capacity: 0,
  keyBytes: 32,
  /** Value sizes in bytes, measured one after another: every store, get and set, at each. */
  sizes: '160,1024,2048,4096',
  /** Seconds items live (long enough never to expire during a run). */
  ttl: 3600,
  /** Stats poller interval in ms (0 = no poller phase). */
  pollMs: 100,
  /** Target duration of one timed batch of synchronous calls, in ns. */
  targetBatchNs: 20000,
  workers: '1,2',
  drivers: NAMES.join(','),
  results: DEFAULT_DIR,
  /** Name of the result files. */
  name: 'micro',
  /** Before each trial, wait (up to 90 s) until the CPUs are this idle over a second (0 = don't wait): the machine is shared. */
  waitIdle: 0.85,
};

function runTrial(params) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'trial.js'), [JSON.stringify(params)], { stdio: 'inherit' });
    let result;
    child.on('message', (msg) => {
      result = msg;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`trial ${params.driver} x${params.workers} exited with ${signal || code}`));
    });
  });
}

/** --sizes as a list of distinct positive integers, in the order given. */
function parseSizes(value) {
  const sizes = list(value).map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1) || new Set(sizes).size !== sizes.length) {
    throw new Error(`--sizes takes distinct positive byte counts separated by commas, got '${value}'`);
  }
  return sizes;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), DEFAULTS);
  const drivers = list(args.drivers);
  const workerCounts = list(args.workers).map(Number);
  const sizes = parseSizes(args.sizes);
  const params = {
    duration: args.duration,
    warmup: args.warmup,
    rounds: args.rounds,
    items: args.items,
    capacity: args.capacity || args.items * 2,
    keyBytes: args.keyBytes,
    sizes,
    ttl: args.ttl,
    pollMs: args.pollMs,
    targetBatchNs: args.targetBatchNs,
  };
  const machine = describeMachine();
  const startedAt = new Date().toISOString();
  const trials = [];
  for (const workers of workerCounts) {
    for (const driver of drivers) {
      const quiet = await waitForIdle(args.waitIdle);
      process.stderr.write(`micro: ${driver} with ${workers} worker(s)...\n`);
      trials.push({ ...(await runTrial({ ...params, driver, workers })), idleBefore: quiet.idle, waitedForIdleS: quiet.waitedS });
    }
  }
  const result = {
    benchmark: 'micro',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAfter: describeMachine().loadAverage },
    parameters: { ...params, workers: workerCounts, drivers, waitIdle: args.waitIdle },
    method:
      'Synchronous ops are timed in batches with process.hrtime.bigint(); per-op latency = (batch time - timer overhead) / batch ' +
      'size; median and p99 over batches (p99 of batch averages). Async ops (IPC) are timed one by one. Throughput = ops / ' +
      'elapsed time per worker, summed over workers. Each figure is the median over rounds. Value sizes run one after ' +
      'another, each on the table rewarmed with values of that size.',
    trials,
  };
  await publishResult(args.results, args.name, result);
}

runMain(main);
