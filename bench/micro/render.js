'use strict';
// micro.json -> micro.md (tables with ratios and the targets) and the chart spec.
// Value size is a dimension (see result.js): every table has a row per size,
// the targets read the typical session's size unless they name another.
const { us, rate, times, pct, table, machineLine } = require('../lib/format');
const { median } = require('../lib/summary');
const { upgrade, typicalSize, opsAt } = require('./result');

/** The issue-10 reference: shm get of a typical session before values spanned blocks (README, 200-byte values). */
const GET_BEFORE_BLOCKS_NS = 181;
const GET_VS_MAP_BEFORE_BLOCKS = 181 / 154;

/** A value size for people: 160 B, 1 KiB, 4 KiB. */
function sizeLabel(bytes) {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

/** A latency target's measured figure: 0.181 µs, or – when not measured. */
function usShown(ns) {
  return ns === undefined || !Number.isFinite(ns) ? '–' : `${us(ns)} µs`;
}

/** The trial of `driver` with `workers` workers, or undefined. */
function trialOf(result, driver, workers) {
  return result.trials.find((t) => t.driver === driver && t.workers === workers);
}

/** One figure of one op at one value size (default: the typical session's), or undefined. */
function fig(result, driver, workers, op, field, valueBytes = typicalSize(result.parameters.sizes)) {
  const ops = opsAt(trialOf(result, driver, workers), valueBytes);
  return ops && ops[op] ? ops[op][field] : undefined;
}

/** The issue's targets, each with the measured figure and whether it was met. */
function targets(result) {
  result = upgrade(result);
  const one = Math.min(...result.parameters.workers);
  const two = result.parameters.workers.includes(2) ? 2 : undefined;
  // Unless a target names a size, it is about the typical session.
  const at = ` (${sizeLabel(typicalSize(result.parameters.sizes))})`;
  const rows = [];
  const add = (name, measured, shown, ok) => rows.push({ name, measured, shown, met: measured === undefined || !Number.isFinite(measured) ? undefined : ok });
  const shmGet = fig(result, 'shm', one, 'get', 'medianNs');
  add(`shm get median ≤ 0.35 µs${at}`, shmGet, usShown(shmGet), shmGet <= 350);
  const shmSet = fig(result, 'shm', one, 'set', 'medianNs');
  add(`shm set median ≤ 0.6 µs${at}`, shmSet, usShown(shmSet), shmSet <= 600);
  const vsMap = shmGet / fig(result, 'map', one, 'get', 'medianNs');
  add(`shm get within 1.5× of Map (shm / Map ≤ 1.5)${at}`, vsMap, times(vsMap), vsMap <= 1.5);
  const vsLmdb = fig(result, 'lmdb', one, 'get', 'medianNs') / shmGet;
  add(`shm get ≥ 3× faster than lmdb-js${at}`, vsLmdb, times(vsLmdb), vsLmdb >= 3);
  const vsIpc = fig(result, 'ipc', one, 'get', 'medianNs') / shmGet;
  add(`shm get ≥ 100× faster than the IPC round trip${at}`, vsIpc, times(vsIpc), vsIpc >= 100);
  if (two) {
    const scale = fig(result, 'shm', two, 'get', 'opsPerSec') / fig(result, 'shm', one, 'get', 'opsPerSec');
    add(`2 processes reading: ≥ 1.7× the get throughput of 1${at}`, scale, times(scale), scale >= 1.7);
  }
  const slower = pollerEffect(result, one);
  add(`shm get with a stats poller every ${result.parameters.pollMs} ms: within 5 % of without${at}`, slower, `${slower >= 0 ? '+' : ''}${pct(slower)}`, Math.abs(slower) <= 0.05);
  // Issue 10 (values spanning blocks): the speed stays. "Before" is the README's run before it.
  const getLimit = GET_BEFORE_BLOCKS_NS * 1.1;
  add(`issue 10: shm get within 10 % of before (${us(GET_BEFORE_BLOCKS_NS)} µs): ≤ ${us(getLimit)} µs${at}`, shmGet, usShown(shmGet), shmGet <= getLimit);
  const mapLimit = GET_VS_MAP_BEFORE_BLOCKS * 1.1;
  add(`issue 10: the same against Map (shm / Map was ${times(GET_VS_MAP_BEFORE_BLOCKS)}): ≤ ${times(mapLimit)}${at}`, vsMap, times(vsMap), vsMap <= mapLimit);
  const get2k = fig(result, 'shm', one, 'get', 'medianNs', 2048);
  add('issue 10: shm get of a 2 KiB value < 0.5 µs', get2k, usShown(get2k), get2k < 500);
  add(`issue 10: shm set ≤ 0.3 µs${at}`, shmSet, usShown(shmSet), shmSet <= 300);
  return rows;
}

/**
 * How much slower shm get was with the stats poller running: the median over
 * rounds of each round's (with poller / without - 1). The two phases of a round
 * run back to back, so pairing them cancels the machine's slower drifts.
 */
function pollerEffect(result, workers) {
  const ops = opsAt(trialOf(result, 'shm', workers), typicalSize(result.parameters.sizes));
  if (!ops || !ops.getPolled) return undefined;
  const ratios = ops.get.rounds.map((r, i) => ops.getPolled.rounds[i].medianNs / r.medianNs - 1);
  return median(ratios);
}

/** The shm trial's geometry, in words (results before issue 10 recorded less of it). */
function geometryLine(result) {
  const t = result.trials.find((x) => x.driver === 'shm');
  const g = t && t.store;
  if (!g || g.items === undefined) return '';
  const parts = [`${g.items} slots`];
  if (g.blocks !== undefined) parts.push(`${g.blocks} blocks of ${g.blocksize} B`);
  else parts.push(`blocksize ${g.blocksize} B`);
  if (g.maxValueBytes !== undefined) parts.push(`values up to ${g.maxValueBytes} B`);
  if (g.memoryBytes !== undefined) parts.push(`${(g.memoryBytes / 2 ** 20).toFixed(1)} MiB mapped`);
  const defaults = g.blocks !== undefined ? ' (blocksize and maxValueBytes: the library defaults; blocks for every slot to hold the largest value)' : '';
  return `tls-shm-cache geometry: ${parts.join(', ')}${defaults}.\n\n`;
}

function markdown(result, { svgFile } = {}) {
  result = upgrade(result);
  const p = result.parameters;
  const drivers = p.drivers;
  const sizes = p.sizes;
  const one = Math.min(...p.workers);
  const typical = typicalSize(sizes);
  const label = (d) => (result.trials.find((t) => t.driver === d) || { label: d }).label;
  let md = `# Store micro-benchmark\n\n`;
  const sizeList = sizes.length === 1 ? `${sizes[0]}-byte values` : `values of ${sizes.slice(0, -1).map(sizeLabel).join(', ')} and ${sizeLabel(sizes[sizes.length - 1])}`;
  md += `${p.keyBytes}-byte keys, ${sizeList}, a warm table of ${p.items} items`;
  md += `${sizes.length === 1 ? '' : ' (the sizes one after another, every key holding a value of the size measured)'}; from cluster workers; `;
  md += `${p.duration} s per phase, median of ${p.rounds} rounds. Run ${result.startedAt}.\n\n`;
  md += `Machine: ${machineLine(result.machine)}\n\n`;
  md += geometryLine(result);
  if (svgFile) md += `![store micro-benchmark](${svgFile})\n\n`;

  for (const workers of p.workers) {
    md += `## ${workers} worker process${workers === 1 ? '' : 'es'} at once\n\n`;
    const rows = [];
    for (const size of sizes) {
      const shmGet = fig(result, 'shm', workers, 'get', 'medianNs', size);
      const shmSet = fig(result, 'shm', workers, 'set', 'medianNs', size);
      for (const d of drivers) {
        const f = (op, field) => fig(result, d, workers, op, field, size);
        rows.push([
          label(d),
          sizeLabel(size),
          us(f('get', 'medianNs')),
          us(f('get', 'p99Ns')),
          rate(f('get', 'opsPerSec')),
          times(f('get', 'medianNs') / shmGet),
          us(f('set', 'medianNs')),
          us(f('set', 'p99Ns')),
          rate(f('set', 'opsPerSec')),
          times(f('set', 'medianNs') / shmSet),
        ]);
      }
    }
    md += table(
      ['store', 'value', 'get median µs', 'get p99 µs', 'get ops/s (all workers)', 'get time ÷ shm', 'set median µs', 'set p99 µs', 'set ops/s (all workers)', 'set time ÷ shm'],
      rows,
    );
    md += '\n';
  }

  if (sizes.length > 1) {
    md += `## By value size: median µs, ${one} worker${one === 1 ? '' : 's'}\n\n`;
    const rows = [];
    for (const d of drivers) {
      for (const op of ['get', 'set']) {
        const first = fig(result, d, one, op, 'medianNs', sizes[0]);
        const last = fig(result, d, one, op, 'medianNs', sizes[sizes.length - 1]);
        rows.push([label(d), op, ...sizes.map((size) => us(fig(result, d, one, op, 'medianNs', size))), times(last / first)]);
      }
    }
    md += table(['store', 'op', ...sizes.map(sizeLabel), `${sizeLabel(sizes[sizes.length - 1])} ÷ ${sizeLabel(sizes[0])}`], rows);
    md += '\n';
  }

  if (p.workers.length > 1) {
    const [a, b] = [Math.min(...p.workers), Math.max(...p.workers)];
    md += `## Scaling: ${b} processes vs ${a}\n\n`;
    const rows = [];
    for (const d of drivers) {
      for (const size of sizes) {
        for (const op of ['get', 'set']) {
          const x = fig(result, d, a, op, 'opsPerSec', size);
          const y = fig(result, d, b, op, 'opsPerSec', size);
          rows.push([label(d), sizeLabel(size), op, rate(x), rate(y), times(y / x)]);
        }
      }
    }
    md += table(['store', 'value', 'op', `ops/s, ${a} worker`, `ops/s, ${b} workers`, 'scaling'], rows);
    md += '\n';
  }

  const ipcRows = [];
  for (const workers of p.workers) {
    for (const size of sizes) {
      const ops = opsAt(trialOf(result, 'ipc', workers), size);
      for (const op of ['get', 'set']) {
        const o = ops && ops[op];
        if (!o || !o.primaryCpuNsPerOp) continue;
        ipcRows.push([String(workers), sizeLabel(size), op, us(o.primaryCpuNsPerOp), pct(o.primaryCoreShare, 0), rate(o.opsPerSec), rate(1e9 / o.primaryCpuNsPerOp)]);
      }
    }
  }
  if (ipcRows.length) {
    md += `## The IPC store's primary\n\n`;
    md += `Every IPC get and set is answered by the one primary process. Its CPU time per operation (process.cpuUsage() of the `;
    md += `primary over each phase ÷ operations the workers completed in it) caps the whole cluster at one core's worth: `;
    md += `1 s ÷ CPU per operation.\n\n`;
    md += table(['workers', 'value', 'op', 'primary CPU µs per op', 'primary busy (of one core)', 'ops/s measured', 'ops/s at which the primary saturates one core'], ipcRows);
    md += '\n';
  }

  const polled = p.workers.filter((w) => (opsAt(trialOf(result, 'shm', w), typical) || {}).getPolled);
  if (polled.length) {
    md += `## shm get with a stats poller (cache.stats() every ${p.pollMs} ms from the primary; ${sizeLabel(typical)} values)\n\n`;
    const rows = [];
    for (const workers of polled) {
      const ops = opsAt(trialOf(result, 'shm', workers), typical);
      const plainRounds = ops.get.rounds.map((r) => us(r.medianNs)).join(' / ');
      const polledRounds = ops.getPolled.rounds.map((r) => us(r.medianNs)).join(' / ');
      const effect = pollerEffect(result, workers);
      rows.push([String(workers), us(ops.get.medianNs), us(ops.getPolled.medianNs), `${effect >= 0 ? '+' : ''}${pct(effect)}`, plainRounds, polledRounds]);
    }
    md += table(['workers', 'get median µs, no poller', 'with poller', 'difference (median of paired rounds)', 'rounds, no poller', 'rounds, with poller'], rows);
    md += '\n';
  }

  md += `## Targets (issues 2, 4, 5 and 10; ${one} worker unless said)\n\n`;
  md += table(
    ['target', 'measured', 'met'],
    targets(result).map((t) => [t.name, t.shown, t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**']),
  );
  md += `\nHow: ${result.method}\n`;
  const batchLine = (t) => {
    const perSize = t.sizes.map((s) => `${sizes.length > 1 ? `${sizeLabel(s.valueBytes)} ` : ''}get ${s.ops.get.batch} / set ${s.ops.set.batch}`);
    return `${t.driver} ${perSize.join(', ')}`;
  };
  md += `\nBatch sizes (calls per timed batch): ${result.trials
    .filter((t) => t.workers === one)
    .map(batchLine)
    .join('; ')}; timer overhead ${result.trials[0].timerOverheadNs} ns a pair, subtracted.\n`;
  if (result.trials.some((t) => t.idleBefore !== undefined && t.idleBefore !== null)) {
    md += `\nThe machine is shared: CPU idle in the second before each trial (1-minute load average): ${result.trials
      .map((t) => `${t.driver}×${t.workers} ${pct(t.idleBefore, 0)} (${t.loadAverage})`)
      .join(', ')}.\n`;
  }
  return md;
}

/**
 * Bar chart: median latency and throughput per store and value size, by op
 * (columns) and worker count (rows); log scales.
 */
function chart(result) {
  result = upgrade(result);
  const sizeOrder = result.parameters.sizes.map(sizeLabel);
  const values = [];
  for (const t of result.trials) {
    for (const s of t.sizes) {
      for (const op of ['get', 'set']) {
        if (!s.ops[op]) continue;
        values.push({
          store: t.label,
          op,
          value: sizeLabel(s.valueBytes),
          workers: `${t.workers} worker${t.workers === 1 ? '' : 's'}`,
          medianUs: s.ops[op].medianNs / 1000,
          opsPerSec: s.ops[op].opsPerSec,
        });
      }
    }
  }
  // One y-axis title per panel (in the panel's title): repeated beside each row it would overlap.
  const panel = (field, title, format) => ({
    title: { text: title, anchor: 'start', fontSize: 12 },
    facet: {
      column: { field: 'op', type: 'nominal', title: null },
      row: { field: 'workers', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelOrient: 'right' } },
    },
    spec: {
      width: 220,
      height: 160,
      mark: 'bar',
      encoding: {
        x: { field: 'store', type: 'nominal', title: null, sort: result.parameters.drivers.map((d) => (result.trials.find((t) => t.driver === d) || {}).label), axis: { labelAngle: -30, labelLimit: 400 } },
        xOffset: { field: 'value', type: 'nominal', sort: sizeOrder },
        y: { field, type: 'quantitative', scale: { type: 'log' }, stack: null, title: null, axis: { format } },
        color: { field: 'value', type: 'nominal', title: 'value size', sort: sizeOrder },
        tooltip: [{ field: 'store' }, { field: 'op' }, { field: 'value' }, { field: 'workers' }, { field, format: '.3~s' }],
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

module.exports = { markdown, chart, targets, sizeLabel };
