'use strict';
// tls.json -> tls.md (a table per balancer and client kind, with ratios and
// the targets) and the chart spec.
const { rate, times, pct, table, machineLine } = require('../lib/format');

/** The worker counts of a run (older results recorded one number). */
function workerCounts(result) {
  return [].concat(result.parameters.workers);
}

/** A cell; `workers` defaults to the largest worker count of the run (the one the tables show). */
function cellOf(result, store, balancer, client, concurrency, workers = Math.max(...workerCounts(result))) {
  return result.cells.find(
    (c) => c.store === store && c.balancer === balancer && c.client === client && c.concurrency === concurrency && (c.workers ?? result.parameters.workers) === workers,
  );
}

const signed = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${pct(x)}` : '–');

/** The issue's targets, each with the measured figure and whether it was met. */
function targets(result) {
  const p = result.parameters;
  const rows = [];
  const has = (s) => p.stores.includes(s);
  for (const balancer of p.balancers) {
    for (const c of p.concurrency) {
      const where = `${result.labels.balancers[balancer]}, concurrency ${c}`;
      if (p.clients.includes('tls12-id') && has('shm')) {
        const shm = cellOf(result, 'shm', balancer, 'tls12-id', c);
        if (has('ipc')) {
          const ipc = cellOf(result, 'ipc', balancer, 'tls12-id', c);
          const ratio = shm && ipc ? shm.handshakesPerSec / ipc.handshakesPerSec : NaN;
          rows.push({ name: `TLS 1.2 session ID, ${where}: shm handshakes/s ≥ IPC`, shown: `${times(ratio)} of IPC`, met: Number.isFinite(ratio) ? ratio >= 1 : undefined });
        }
        if (shm) rows.push({ name: `TLS 1.2 session ID, ${where}: shm resumption ≥ 99 %`, shown: pct(shm.resumption), met: shm.resumption >= 0.99 });
      }
      if (p.clients.includes('tls13-ticket') && has('shm') && has('none')) {
        const none = cellOf(result, 'none', balancer, 'tls13-ticket', c);
        const shm = cellOf(result, 'shm', balancer, 'tls13-ticket', c);
        const ipc = has('ipc') ? cellOf(result, 'ipc', balancer, 'tls13-ticket', c) : undefined;
        if (none && shm) {
          // Change in handshakes/s against the same cell with no store: negative is a cost.
          const change = shm.handshakesPerSec / none.handshakesPerSec - 1;
          const ipcChange = ipc ? `; IPC store ${signed(ipc.handshakesPerSec / none.handshakesPerSec - 1)}` : '';
          if (balancer === 'rr') {
            // Server CPU per handshake moves less with the machine's noise than throughput does: shown beside it.
            const cpu = (x) => (x && x.cpuUsPerHandshake && none.cpuUsPerHandshake ? signed(x.cpuUsPerHandshake / none.cpuUsPerHandshake - 1) : '–');
            rows.push({
              name: `TLS 1.3 tickets, ${where}: attaching shm costs ≤ 1 % of handshakes/s (change vs no store)`,
              shown: `shm ${signed(change)}${ipcChange} (server CPU per handshake: shm ${cpu(shm)}${ipc ? `, IPC ${cpu(ipc)}` : ''})`,
              met: change >= -0.01,
            });
          } else {
            rows.push({ name: `TLS 1.3 tickets, ${where}: shm's shared ticket key resumes ≥ 99 % (no store: ${pct(none.resumption)})`, shown: pct(shm.resumption), met: shm.resumption >= 0.99 });
          }
        }
      }
      // Issue 11: the ring callback against the single-key path (and renewal's cost), same run.
      if (has('shm') && has('shm-single')) {
        for (const client of ['tls13-ticket', 'tls12-ticket', 'tls13-single']) {
          if (!p.clients.includes(client)) continue;
          const ring = cellOf(result, 'shm', balancer, client, c);
          const single = cellOf(result, 'shm-single', balancer, client, c);
          if (!ring || !single) continue;
          const ratio = ring.handshakesPerSec / single.handshakesPerSec;
          const cpu = ring.cpuUsPerHandshake && single.cpuUsPerHandshake ? signed(ring.cpuUsPerHandshake / single.cpuUsPerHandshake - 1) : '–';
          const shown = `${times(ratio)} of single-key; server CPU per handshake ${cpu}; resumed ${pct(ring.resumption)} vs ${pct(single.resumption)}`;
          if (client === 'tls13-single') {
            rows.push({
              name: `${result.labels.clients[client]}, ${where}: with the ring, resumption and handshakes/s rise over single-key`,
              shown,
              met: ring.resumption > single.resumption && ratio > 1,
            });
          } else {
            rows.push({ name: `${result.labels.clients[client]}, ${where}: the ring callback costs ≤ 2 % of handshakes/s against single-key`, shown, met: ratio >= 0.98 });
          }
        }
      }
      if (has('shm') && has('shm-norenew') && p.clients.includes('tls12-ticket')) {
        const renew = cellOf(result, 'shm', balancer, 'tls12-ticket', c);
        const keep = cellOf(result, 'shm-norenew', balancer, 'tls12-ticket', c);
        if (renew && keep) {
          const cpu = renew.cpuUsPerHandshake && keep.cpuUsPerHandshake ? signed(renew.cpuUsPerHandshake / keep.cpuUsPerHandshake - 1) : '–';
          rows.push({
            name: `TLS 1.2 tickets, ${where}: what renewing every ticket costs (ring renewing vs not)`,
            shown: `${signed(renew.handshakesPerSec / keep.handshakesPerSec - 1)} handshakes/s, server CPU per handshake ${cpu}`,
            met: undefined,
          });
        }
      }
    }
  }
  return rows;
}

function markdown(result, { svgFile } = {}) {
  const p = result.parameters;
  let md = `# TLS handshake benchmark\n\n`;
  md += `A ${Math.max(...workerCounts(result))}-worker Node cluster${workerCounts(result).length > 1 ? ` (and ${workerCounts(result).length - 1} smaller ones in the workers sweep below)` : ''}; clients open new connections and resume their session each time; `;
  md += `${p.duration} s measured after ${p.warmup} s of warm-up${p.repeat > 1 ? `, median of ${p.repeat} repeats` : ''}. Run ${result.startedAt}.\n\n`;
  md += `Machine: ${machineLine(result.machine)}\n\n`;
  if (svgFile) md += `![TLS handshake benchmark](${svgFile})\n\n`;
  for (const balancer of p.balancers) {
    for (const client of p.clients) {
      md += `## ${result.labels.clients[client]} — ${result.labels.balancers[balancer]}\n\n`;
      const header = ['store'];
      for (const c of p.concurrency) header.push(`c=${c} handshakes/s`, `÷ no store`, `resumed`, `server CPU µs/handshake`);
      const rows = p.stores.map((store) => {
        const row = [result.labels.stores[store]];
        for (const c of p.concurrency) {
          const cell = cellOf(result, store, balancer, client, c);
          const none = cellOf(result, 'none', balancer, client, c);
          if (!cell) {
            row.push('–', '–', '–', '–');
            continue;
          }
          row.push(
            rate(cell.handshakesPerSec),
            none ? times(cell.handshakesPerSec / none.handshakesPerSec) : '–',
            pct(cell.resumption),
            cell.cpuUsPerHandshake === null ? '–' : cell.cpuUsPerHandshake.toFixed(0),
          );
        }
        return row;
      });
      md += table(header, rows) + '\n';
    }
  }
  if (workerCounts(result).length > 1) md += sweepMarkdown(result);
  md += `## Targets (issues 5 and 11)\n\n`;
  md += table(['target', 'measured', 'met'], targets(result).map((t) => [t.name, t.shown, t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**']));
  md += `\nHow: ${result.method}\n`;
  const idles = result.cells.map((c) => c.idleBefore).filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (idles.length) {
    md += `\nThe machine is shared: CPU idle in the second before each cell was ${pct(idles[0], 0)} at worst, ${pct(idles[idles.length >> 1], 0)} typically.\n`;
  }
  return md;
}

/**
 * The workers sweep: per client kind, balancer and concurrency, each store at
 * each worker count, with the CPU of the workers and of the primary per
 * handshake kept apart (the IPC store's primary does work for every lookup).
 */
function sweepMarkdown(result) {
  const p = result.parameters;
  let md = `## Workers sweep\n\n`;
  md += `The same cells with ${workerCounts(result).join(', ')} worker processes. Worker CPU and primary CPU per handshake are `;
  md += `process.cpuUsage() over the window ÷ handshakes; handshakes/s per worker core = 1 s ÷ worker CPU per handshake; `;
  md += `lookups / stores = resumeSession / newSession events per handshake. The clients (openssl s_time) share the machine's `;
  md += `${result.machine.cores} cores with the servers.\n\n`;
  for (const balancer of p.balancers) {
    for (const client of p.clients) {
      for (const c of p.concurrency) {
        md += `### ${result.labels.clients[client]} — ${result.labels.balancers[balancer]}, concurrency ${c}\n\n`;
        const rows = [];
        for (const store of p.stores) {
          for (const workers of workerCounts(result)) {
            const cell = cellOf(result, store, balancer, client, c, workers);
            if (!cell) continue;
            rows.push([
              result.labels.stores[store],
              String(workers),
              rate(cell.handshakesPerSec),
              pct(cell.resumption),
              fixed(cell.workerCpuUsPerHandshake),
              fixed(cell.primaryCpuUsPerHandshake, 1),
              cell.workerCpuUsPerHandshake ? rate(1e6 / cell.workerCpuUsPerHandshake) : '–',
              fixed(cell.lookupsPerHandshake, 2),
              fixed(cell.storesPerHandshake, 2),
              fixed(cell.serverCpuCores, 2),
            ]);
          }
        }
        md += table(['store', 'workers', 'handshakes/s', 'resumed', 'worker CPU µs/handshake', 'primary CPU µs/handshake', 'handshakes/s per worker core', 'lookups/handshake', 'stores/handshake', 'server cores busy'], rows);
        md += '\n';
      }
    }
  }
  return md;
}

const fixed = (x, digits = 0) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** Bar charts: handshakes/s and resumption per store, by client kind x balancer, concurrency side by side. */
function chart(result) {
  const top = Math.max(...workerCounts(result));
  const values = result.cells.filter((c) => (c.workers ?? top) === top).map((c) => ({
    store: result.labels.stores[c.store],
    client: result.labels.clients[c.client],
    balancer: result.labels.balancers[c.balancer],
    concurrency: `concurrency ${c.concurrency}`,
    handshakesPerSec: c.handshakesPerSec,
    resumedPct: c.resumption * 100,
  }));
  const order = result.parameters.stores.map((s) => result.labels.stores[s]);
  const panel = (field, title) => ({
    facet: {
      column: { field: 'client', type: 'nominal', title: null, sort: result.parameters.clients.map((k) => result.labels.clients[k]), header: { labelLimit: 400, labelFontWeight: 'bold' } },
      row: { field: 'balancer', type: 'nominal', title: null, sort: result.parameters.balancers.map((k) => result.labels.balancers[k]), header: { labelLimit: 400, labelFontWeight: 'bold', labelOrient: 'right', labelAngle: 90 } },
    },
    spec: {
      width: 220,
      height: 160,
      mark: 'bar',
      encoding: {
        x: { field: 'store', type: 'nominal', title: null, sort: order, axis: { labelAngle: -30, labelLimit: 400 } },
        xOffset: { field: 'concurrency', type: 'nominal' },
        y: { field, type: 'quantitative', title },
        color: { field: 'concurrency', type: 'nominal', title: 'clients in parallel' },
        tooltip: [{ field: 'store' }, { field: 'client' }, { field: 'balancer' }, { field: 'concurrency' }, { field, format: '.4~s' }],
      },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `TLS handshakes with session resumption, ${top}-worker cluster`,
      subtitle: `${result.machine.cpuModel}, ${result.machine.cores} cores, Node ${result.machine.node}, OpenSSL ${result.machine.nodeOpenssl}`,
    },
    data: { values },
    vconcat: [panel('handshakesPerSec', 'handshakes/s'), panel('resumedPct', 'resumed, %'), ...sweepPanel(result)],
    // The sweep's colours are stores, the bars' are concurrency: two legends.
    ...(workerCounts(result).length > 1 ? { resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } } } : {}),
  };
}

/** With a workers sweep: handshakes/s against worker count, a line per store, by client kind (first balancer and concurrency). */
function sweepPanel(result) {
  const p = result.parameters;
  if (workerCounts(result).length < 2) return [];
  const balancer = p.balancers[0];
  const concurrency = p.concurrency[p.concurrency.length - 1];
  const values = result.cells
    .filter((c) => c.balancer === balancer && c.concurrency === concurrency)
    .map((c) => ({ store: result.labels.stores[c.store], client: result.labels.clients[c.client], workers: c.workers, handshakesPerSec: c.handshakesPerSec }));
  return [
    {
      title: `Workers sweep (${result.labels.balancers[balancer]}, concurrency ${concurrency})`,
      data: { values },
      facet: { column: { field: 'client', type: 'nominal', title: null, header: { labelLimit: 400, labelFontWeight: 'bold' } } },
      spec: {
        width: 220,
        height: 160,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'workers', type: 'quantitative', title: 'worker processes', axis: { tickMinStep: 1 } },
          y: { field: 'handshakesPerSec', type: 'quantitative', title: 'handshakes/s' },
          color: { field: 'store', type: 'nominal', title: 'store', legend: { labelLimit: 400 } },
        },
      },
    },
  ];
}

module.exports = { markdown, chart, targets, workerCounts, cellOf };
