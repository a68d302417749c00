'use strict';
// model.json -> model.md (inputs, per-kind figures, projections, the write
// lock) and the chart spec (projection lines beside the measured points).
const { rate, times, pct, table } = require('../lib/format');
const { KINDS } = require('./model');

const STORE_LABELS = { shm: 'tls-shm-cache', ipc: 'strong-cluster-tls-store (IPC)', none: 'no store (full handshakes)' };
const kindLabel = (kind) => (KINDS.find((k) => k.kind === kind) || { label: kind }).label;
const num = (x, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

function markdown(result, { svgFile } = {}) {
  const cores = result.parameters.cores;
  let md = `# Scale model: where each design stops scaling\n\n`;
  md += `Inputs measured on this machine (${result.machine.cores} cores, ${result.machine.cpuModel}); sources: `;
  md += Object.entries(result.sourceRuns)
    .map(([k, v]) => `${k} run ${v.startedAt} (load average ${v.loadAverage.join(' ')})`)
    .join('; ');
  md += `.\n\n`;
  if (svgFile) md += `![scale model](${svgFile})\n\n`;
  md += `Model: a handshake costs c µs of worker CPU and, with the IPC store, p µs of the one primary's CPU `;
  md += `(p = lookups × primary CPU per get + stores × primary CPU per set). With N cores serving handshakes: `;
  md += `shm X(N) = N / c; IPC X(N) = min(N / (c + p), 1 / p), so the IPC primary becomes the bottleneck at N* = (c + p) / p cores.\n\n`;
  md += `## Inputs\n\n`;
  md += table(['input', 'value', 'source'], result.inputs.map((i) => [i.name, i.shown ?? `${i.unit === '/s' ? rate(i.value) : num(i.value, i.value < 10 ? 2 : 1)} ${i.unit}`, i.source]));
  md += `\n## Per handshake kind\n\n`;
  md += table(
    ['handshake', 'worker CPU µs, shm', 'worker CPU µs, IPC', 'handshakes/s per core, shm', 'lookups / stores per handshake', 'IPC primary µs per handshake', 'IPC primary cap, handshakes/s', 'IPC bottleneck at N* cores'],
    result.kinds.map((k) => [
      k.label,
      num(k.workerCpuUs.shm),
      num(k.workerCpuUs.ipc),
      rate(k.handshakesPerSecPerCore.shm),
      `${num(k.lookupsPerHandshake, 2)} / ${num(k.storesPerHandshake, 2)}`,
      num(k.ipcPrimaryUsPerHandshake, 1),
      rate(k.ipcPrimaryCapPerSec),
      num(k.ipcBottleneckCores, 1),
    ]),
  );
  md += `\n## Projected handshakes/s\n\n`;
  const header = ['handshake', 'store', ...cores.map((n) => `${n} cores`), `shm ÷ IPC at ${Math.max(...cores)}`];
  const rows = [];
  for (const k of result.kinds) {
    for (const store of ['shm', 'ipc']) {
      const at = (n) => result.projections.find((x) => x.kind === k.kind && x.store === store && x.cores === n);
      const top = Math.max(...cores);
      const ratio = store === 'shm' ? times(at(top).handshakesPerSec / result.projections.find((x) => x.kind === k.kind && x.store === 'ipc' && x.cores === top).handshakesPerSec) : '';
      rows.push([k.label, STORE_LABELS[store], ...cores.map((n) => `${rate(at(n).handshakesPerSec)}${at(n).limitedBy === 'IPC primary' ? ' (primary-bound)' : ''}`), ratio]);
    }
  }
  md += table(header, rows);
  if (result.lock) {
    const l = result.lock;
    md += `\n## The shm write lock\n\n`;
    md += `Every new session takes the segment's one write lock for about ${num(l.holdNs)} ns (a C++ set of a new key into a full table, `;
    md += `eviction included; the hashing is inside that figure but outside the lock, so it is an upper bound). With ${l.cores} cores doing `;
    md += `nothing but full TLS 1.2 handshakes (the worst case: every handshake writes) that is ${rate(l.newSessionsPerSec)} new sessions/s, `;
    md += `so the lock is held ${pct(l.utilisation, 2)} of the time — the chance that a writer finds it taken. It would saturate at `;
    md += `${rate(l.saturatesAtPerSec)} new sessions/s, which takes about ${num(l.coresToSaturate)} cores of full handshakes. `;
    md += `Resumed handshakes and TLS 1.3 only read (no lock).\n`;
  }
  if (result.rrPrimary) {
    md += `\n## Node's round-robin primary\n\n`;
    md += `Whatever the store, Node's default cluster on Linux (SCHED_RR) accepts every connection in the primary and passes it to a worker: `;
    md += `${num(result.rrPrimary.primaryUsPerHandshake)} µs of the primary's CPU per handshake here (no store), a cap of about `;
    md += `${rate(result.rrPrimary.capPerSec)} handshakes/s for any store. Beyond that, workers must accept themselves `;
    md += `(cluster.SCHED_NONE, or a balancer in front that connects to each worker's own port); the projections assume so.\n`;
  }
  md += `\nThe measured points in the chart are the bench:tls workers sweep, placed at the server CPU they used (workers + primary, in cores): `;
  md += `on this ${result.machine.cores}-core machine the clients take the rest, so no point reaches ${result.machine.cores} cores.\n`;
  return md;
}

/** Projection lines (log-log) with the measured points, one panel per handshake kind. */
function chart(result) {
  const values = [];
  for (const c of result.curves) values.push({ kind: kindLabel(c.kind), store: STORE_LABELS[c.store], cores: c.cores, handshakesPerSec: c.handshakesPerSec, what: 'projection' });
  for (const m of result.measured) {
    values.push({ kind: kindLabel(m.kind), store: STORE_LABELS[m.store], cores: m.serverCpuCores, handshakesPerSec: m.handshakesPerSec, what: `measured (${m.workers} worker${m.workers === 1 ? '' : 's'})` });
  }
  const x = { field: 'cores', type: 'quantitative', scale: { type: 'log', domain: [0.2, 128] }, title: 'cores serving handshakes' };
  const y = { field: 'handshakesPerSec', type: 'quantitative', scale: { type: 'log' }, title: 'handshakes/s' };
  const color = { field: 'store', type: 'nominal', title: null, sort: Object.values(STORE_LABELS), legend: { labelLimit: 400 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Projected handshakes/s by cores (lines) beside the measured points', subtitle: `inputs measured on ${result.machine.cpuModel}, ${result.machine.cores} cores` },
    data: { values },
    facet: { column: { field: 'kind', type: 'nominal', title: null, sort: KINDS.map((k) => k.label), header: { labelLimit: 400, labelFontWeight: 'bold' } } },
    spec: {
      width: 240,
      height: 220,
      layer: [
        { transform: [{ filter: "datum.what === 'projection'" }], mark: { type: 'line' }, encoding: { x, y, color } },
        {
          transform: [{ filter: "datum.what !== 'projection'" }],
          mark: { type: 'point', filled: true, size: 50 },
          encoding: { x, y, color, shape: { field: 'what', type: 'nominal', title: null, legend: { labelLimit: 400 } }, tooltip: [{ field: 'store' }, { field: 'what' }, { field: 'cores' }, { field: 'handshakesPerSec' }] },
        },
      ],
    },
  };
}

module.exports = { markdown, chart };
