'use strict';
// One trial of the store micro-benchmark, in a process of its own: this
// process is the cluster primary. It sets the store up through the driver
// (IPC stores need the primary's side), forks the workers, has one worker (or
// every worker, for per-process stores) fill the table, then runs the timed
// phases in all workers at once and pools what they measured; again for each
// value size.
// Started by run.js with fork(); the trial's parameters come as JSON in argv[2]
// and the result goes back with process.send().
const cluster = require('node:cluster');
const os = require('node:os');
const path = require('node:path');
const { loadDriver } = require('./drivers');
const { summarize, median, round } = require('../lib/summary');
const { nextMessage } = require('../lib/worker-message');
const { typicalSize } = require('./result');

/** Pools one phase's worker results: latency over every batch of every worker, throughput summed. */
function pool(results) {
  const all = [];
  let ops = 0;
  let hits = 0;
  let opsPerSec = 0;
  for (const r of results) {
    for (const v of r.perOpNs) all.push(v);
    ops += r.ops;
    hits += r.hits;
    opsPerSec += r.ops / (r.elapsedNs / 1e9);
  }
  const s = summarize(all);
  return {
    medianNs: s.median,
    p99Ns: s.p99,
    opsPerSec,
    ops,
    okRatio: ops ? hits / ops : 0,
    batch: results[0].batch,
    samples: s.count,
    perWorkerOpsPerSec: results.map((r) => round(r.ops / (r.elapsedNs / 1e9))),
  };
}

/** The figure of an op over the rounds: the median of each statistic. */
function overRounds(rounds) {
  return {
    medianNs: round(median(rounds.map((r) => r.medianNs))),
    p99Ns: round(median(rounds.map((r) => r.p99Ns))),
    opsPerSec: round(median(rounds.map((r) => r.opsPerSec))),
    okRatio: Math.min(...rounds.map((r) => r.okRatio)),
    batch: rounds[0].batch,
    // The primary's CPU per operation served and the share of one core it used (see main()).
    primaryCpuNsPerOp: round(median(rounds.map((r) => r.primaryCpuNsPerOp))),
    primaryCoreShare: round(median(rounds.map((r) => r.primaryCoreShare))),
    rounds: rounds.map((r) => ({
      medianNs: round(r.medianNs),
      p99Ns: round(r.p99Ns),
      opsPerSec: round(r.opsPerSec),
      perWorkerOpsPerSec: r.perWorkerOpsPerSec,
      ops: r.ops,
      samples: r.samples,
    })),
  };
}

/**
 * One timed phase in every worker at once, pooled. `phase.poll`: the stats
 * poller runs in this process meanwhile.
 */
async function runPhase(workers, primary, params, driver, phase, valueBytes) {
  let timer;
  let polls = 0;
  if (phase.poll) {
    timer = setInterval(() => {
      primary.pollStats();
      polls++;
    }, params.pollMs);
  }
  const message = { cmd: 'run', op: phase.op, valueBytes, durationNs: params.duration * 1e9, warmupNs: params.warmup * 1e9 };
  // This process's CPU over the phase: for the IPC store, the primary's
  // work per operation (it answers every get and set); for the others, the
  // baseline of an idle primary.
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  const results = await Promise.all(workers.map((w) => { const p = nextMessage(w, 'result'); w.send(message); return p; }));
  const cpu = process.cpuUsage(cpuBefore);
  const wallUs = Number(process.hrtime.bigint() - wallBefore) / 1000;
  if (timer) clearInterval(timer);
  // A get phase measures what it claims only if the table holds values of this size.
  for (const r of results) {
    if (phase.op === 'get' && r.valueBytesSeen !== valueBytes) {
      const seen = r.valueBytesSeen === undefined ? 'a miss' : `a ${r.valueBytesSeen}-byte value`;
      throw new Error(`${driver.name}: a worker read ${seen} before the ${valueBytes}-byte get phase`);
    }
  }
  const pooled = pool(results);
  const served = results.reduce((n, r) => n + r.ops + r.warmupOps, 0);
  pooled.primaryCpuNsPerOp = ((cpu.user + cpu.system) * 1000) / served;
  pooled.primaryCoreShare = (cpu.user + cpu.system) / wallUs;
  if (phase.poll) pooled.polls = polls;
  return pooled;
}

async function main() {
  const params = JSON.parse(process.argv[2]);
  // How busy the (shared) machine was when this trial started: 1-minute load average.
  const loadAverage = Math.round(os.loadavg()[0] * 100) / 100;
  const driver = loadDriver(params.driver);
  const primary = await driver.setupPrimary(params);
  const startCpu = process.cpuUsage();

  cluster.setupPrimary({ exec: path.join(__dirname, 'worker.js'), silent: false });
  const workers = [];
  for (let i = 0; i < params.workers; i++) {
    workers.push(
      cluster.fork({ ...primary.env, BENCH_PARAMS: JSON.stringify(params), BENCH_WORKER_INDEX: String(i) }),
    );
  }
  const ready = await Promise.all(workers.map((w) => nextMessage(w, 'ready')));

  const warmers = driver.warmInEveryWorker ? workers : workers.slice(0, 1);
  const typical = typicalSize(params.sizes);

  // Value sizes one after another, in the order given (the typical session
  // first by default, so its rows are measured on a table no larger value has
  // passed through yet): for each, the table is warmed
  // with values of that size (every key replaced), then `rounds` rounds of its
  // phases run. A stats poller (issue 4) runs in this process, which is not a
  // worker, during the 'getPolled' phase only, at the typical size; the plain
  // 'get' phase of the same round is its reference.
  const sizes = [];
  for (const valueBytes of params.sizes) {
    const warmed = await Promise.all(warmers.map((w) => { const p = nextMessage(w, 'warmed'); w.send({ cmd: 'warm', valueBytes }); return p; }));
    const phases = [{ name: 'get', op: 'get' }];
    if (valueBytes === typical && driver.statsPoller && primary.pollStats && params.pollMs > 0) phases.push({ name: 'getPolled', op: 'get', poll: true });
    phases.push({ name: 'set', op: 'set' });

    const byPhase = {};
    for (let round = 0; round < params.rounds; round++) {
      for (const phase of phases) (byPhase[phase.name] ||= []).push(await runPhase(workers, primary, params, driver, phase, valueBytes));
    }
    const ops = {};
    for (const [name, rounds] of Object.entries(byPhase)) {
      ops[name] = overRounds(rounds);
      if (name === 'getPolled') ops[name].pollsPerRound = rounds.map((r) => r.polls);
    }
    sizes.push({ valueBytes, warmMs: Math.max(...warmed.map((w) => w.ms)), ops });
  }

  const primaryCpu = process.cpuUsage(startCpu);
  const describe = primary.describe ? primary.describe() : {};
  await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); w.send({ cmd: 'exit' }); })));
  await primary.close();

  process.send({
    driver: driver.name,
    label: driver.label,
    async: driver.async,
    workers: params.workers,
    loadAverage,
    store: describe,
    timerOverheadNs: median(ready.map((r) => r.timerOverheadNs)),
    primaryCpuMs: round((primaryCpu.user + primaryCpu.system) / 1000),
    // One entry per value size, in the order measured (result.js).
    sizes,
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
