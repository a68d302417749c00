'use strict';
// micro.json -> micro.md (tables with ratios and the targets) and the chart spec.
const { us, rate, times, pct, table, machineLine } = require('../lib/format');
const { median } = require('../lib/summary');

/** The trial of `driver` with `workers` workers, or undefined. */
function trialOf(result, driver, workers) {
  return result.trials.find((t) => t.driver === driver && t.workers === workers);
}

function fig(result, driver, workers, op, field) {
  const t = trialOf(result, driver, workers);
  return t && t.ops[op] ? t.ops[op][field] : undefined;
}

/** The issue's targets, each with the measured figure and whether it was met. */
function targets(result) {
  const one = Math.min(...result.parameters.workers);
  const two = result.parameters.workers.includes(2) ? 2 : undefined;
  const shmGet = fig(result, 'shm', one, 'get', 'medianNs');
  const rows = [];
  const add = (name, measured, shown, ok) => rows.push({ name, measured, shown, met: measured === undefined || !Number.isFinite(measured) ? undefined : ok });
  add('shm get median ≤ 0.35 µs', shmGet, `${us(shmGet)} µs`, shmGet <= 350);
  const shmSet = fig(result, 'shm', one, 'set', 'medianNs');
  add('shm set median ≤ 0.6 µs', shmSet, `${us(shmSet)} µs`, shmSet <= 600);
  const vsMap = shmGet / fig(result, 'map', one, 'get', 'medianNs');
  add('shm get within 1.5× of Map (shm / Map ≤ 1.5)', vsMap, times(vsMap), vsMap <= 1.5);
  const vsLmdb = fig(result, 'lmdb', one, 'get', 'medianNs') / shmGet;
  add('shm get ≥ 3× faster than lmdb-js', vsLmdb, times(vsLmdb), vsLmdb >= 3);
  const vsIpc = fig(result, 'ipc', one, 'get', 'medianNs') / shmGet;
  add('shm get ≥ 100× faster than the IPC round trip', vsIpc, times(vsIpc), vsIpc >= 100);
  if (two) {
    const scale = fig(result, 'shm', two, 'get', 'opsPerSec') / fig(result, 'shm', one, 'get', 'opsPerSec');
    add('2 processes reading: ≥ 1.7× the get throughput of 1', scale, times(scale), scale >= 1.7);
  }
  const slower = pollerEffect(result, one);
  add(`shm get with a stats poller every ${result.parameters.pollMs} ms: within 5 % of without`, slower, `${slower >= 0 ? '+' : ''}${pct(slower)}`, Math.abs(slower) <= 0.05);
  return rows;
}

/**
 * How much slower shm get was with the stats poller running: the median over
 * rounds of each round's (with poller / without - 1). The two phases of a round
 * run back to back, so pairing them cancels the machine's slower drifts.
 */
function pollerEffect(result, workers) {
  const t = trialOf(result, 'shm', workers);
  if (!t || !t.ops.getPolled) return undefined;
  const ratios = t.ops.get.rounds.map((r, i) => t.ops.getPolled.rounds[i].medianNs / r.medianNs - 1);
  return median(ratios);
}

function markdown(result, { svgFile } = {}) {
  const p = result.parameters;
  const drivers = p.drivers;
  const label = (d) => (result.trials.find((t) => t.driver === d) || { label: d }).label;
  let md = `# Store micro-benchmark\n\n`;
  md += `${p.keyBytes}-byte keys, ${p.valueBytes}-byte values, a warm table of ${p.items} items; from cluster workers; `;
  md += `${p.duration} s per phase, median of ${p.rounds} rounds. Run ${result.startedAt}.\n\n`;
  md += `Machine: ${machineLine(result.machine)}\n\n`;
  if (svgFile) md += `![store micro-benchmark](${svgFile})\n\n`;

  for (const workers of p.workers) {
    md += `## ${workers} worker process${workers === 1 ? '' : 'es'} at once\n\n`;
    const shmGet = fig(result, 'shm', workers, 'get', 'medianNs');
    const shmSet = fig(result, 'shm', workers, 'set', 'medianNs');
    const rows = drivers.map((d) => [
      label(d),
      us(fig(result, d, workers, 'get', 'medianNs')),
      us(fig(result, d, workers, 'get', 'p99Ns')),
      rate(fig(result, d, workers, 'get', 'opsPerSec')),
      times(fig(result, d, workers, 'get', 'medianNs') / shmGet),
      us(fig(result, d, workers, 'set', 'medianNs')),
      us(fig(result, d, workers, 'set', 'p99Ns')),
      rate(fig(result, d, workers, 'set', 'opsPerSec')),
      times(fig(result, d, workers, 'set', 'medianNs') / shmSet),
    ]);
    md += table(
      ['store', 'get median µs', 'get p99 µs', 'get ops/s (all workers)', 'get time ÷ shm', 'set median µs', 'set p99 µs', 'set ops/s (all workers)', 'set time ÷ shm'],
      rows,
    );
    md += '\n';
  }

  if (p.workers.length > 1) {
    const [a, b] = [Math.min(...p.workers), Math.max(...p.workers)];
    md += `## Scaling: ${b} processes vs ${a}\n\n`;
    const rows = [];
    for (const d of drivers) {
      for (const op of ['get', 'set']) {
        const x = fig(result, d, a, op, 'opsPerSec');
        const y = fig(result, d, b, op, 'opsPerSec');
        rows.push([label(d), op, rate(x), rate(y), times(y / x)]);
      }
    }
    md += table(['store', 'op', `ops/s, ${a} worker`, `ops/s, ${b} workers`, 'scaling'], rows);
    md += '\n';
  }

  if (p.drivers.includes('ipc') && result.trials.some((t) => t.driver === 'ipc' && t.ops.get.primaryCpuNsPerOp)) {
    md += `## The IPC store's primary\n\n`;
    md += `Every IPC get and set is answered by the one primary process. Its CPU time per operation (process.cpuUsage() of the `;
    md += `primary over each phase ÷ operations the workers completed in it) caps the whole cluster at one core's worth: `;
    md += `1 s ÷ CPU per operation.\n\n`;
    const rows = [];
    for (const workers of p.workers) {
      const t = trialOf(result, 'ipc', workers);
      if (!t) continue;
      for (const op of ['get', 'set']) {
        const o = t.ops[op];
        if (!o || !o.primaryCpuNsPerOp) continue;
        rows.push([String(workers), op, us(o.primaryCpuNsPerOp), pct(o.primaryCoreShare, 0), rate(o.opsPerSec), rate(1e9 / o.primaryCpuNsPerOp)]);
      }
    }
    md += table(['workers', 'op', 'primary CPU µs per op', 'primary busy (of one core)', 'ops/s measured', 'ops/s at which the primary saturates one core'], rows);
    md += '\n';
  }

  if (result.trials.some((t) => t.ops.getPolled)) {
    md += `## shm get with a stats poller (cache.stats() every ${p.pollMs} ms from the primary)\n\n`;
    const rows = [];
    for (const workers of p.workers) {
      const plain = fig(result, 'shm', workers, 'get', 'medianNs');
      const polled = fig(result, 'shm', workers, 'getPolled', 'medianNs');
      const t = trialOf(result, 'shm', workers);
      const plainRounds = t.ops.get.rounds.map((r) => us(r.medianNs)).join(' / ');
      const polledRounds = t.ops.getPolled.rounds.map((r) => us(r.medianNs)).join(' / ');
      const effect = pollerEffect(result, workers);
      rows.push([String(workers), us(plain), us(polled), `${effect >= 0 ? '+' : ''}${pct(effect)}`, plainRounds, polledRounds]);
    }
    md += table(['workers', 'get median µs, no poller', 'with poller', 'difference (median of paired rounds)', 'rounds, no poller', 'rounds, with poller'], rows);
    md += '\n';
  }

  md += `## Targets (issues 2, 4 and 5; ${Math.min(...p.workers)} worker unless said)\n\n`;
  md += table(
    ['target', 'measured', 'met'],
    targets(result).map((t) => [t.name, t.shown, t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**']),
  );
  md += `\nHow: ${result.method}\n`;
  md += `\nBatch sizes (calls per timed batch): ${result.trials
    .filter((t) => t.workers === Math.min(...p.workers))
    .map((t) => `${t.driver} get ${t.ops.get.batch} / set ${t.ops.set.batch}`)
    .join(', ')}; timer overhead ${result.trials[0].timerOverheadNs} ns a pair, subtracted.\n`;
  if (result.trials.some((t) => t.idleBefore !== undefined && t.idleBefore !== null)) {
    md += `\nThe machine is shared: CPU idle in the second before each trial (1-minute load average): ${result.trials
      .map((t) => `${t.driver}×${t.workers} ${pct(t.idleBefore, 0)} (${t.loadAverage})`)
      .join(', ')}.\n`;
  }
  return md;
}

/** Bar chart: median latency and throughput per store, by op and worker count (log scales). */
function chart(result) {
  const values = [];
  for (const t of result.trials) {
    for (const op of ['get', 'set']) {
      if (!t.ops[op]) continue;
      values.push({
        store: t.label,
        op,
        workers: `${t.workers} worker${t.workers === 1 ? '' : 's'}`,
        medianUs: t.ops[op].medianNs / 1000,
        opsPerSec: t.ops[op].opsPerSec,
      });
    }
  }
  const panel = (field, title, format) => ({
    facet: { column: { field: 'op', type: 'nominal', title: null } },
    spec: {
      width: 220,
      height: 200,
      mark: 'bar',
      encoding: {
        x: { field: 'store', type: 'nominal', title: null, sort: result.parameters.drivers.map((d) => (result.trials.find((t) => t.driver === d) || {}).label), axis: { labelAngle: -30, labelLimit: 400 } },
        xOffset: { field: 'workers', type: 'nominal' },
        y: { field, type: 'quantitative', scale: { type: 'log' }, stack: null, title, axis: { format } },
        color: { field: 'workers', type: 'nominal', title: 'processes at once' },
        tooltip: [{ field: 'store' }, { field: 'op' }, { field: 'workers' }, { field, format: '.3~s' }],
      },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Store micro-benchmark', subtitle: `${result.machine.cpuModel}, ${result.machine.cores} cores, Node ${result.machine.node}` },
    data: { values },
    vconcat: [panel('medianUs', 'median latency, µs (log; lower is better)', '~g'), panel('opsPerSec', 'ops/s, all workers (log; higher is better)', '~s')],
  };
}

module.exports = { markdown, chart, targets };
