'use strict';
// native.json -> native.md (the C++ table, the JavaScript layers beside it,
// and what the IPC floor means) and the chart spec.
const { us, rate, times, pct, table, machineLine } = require('../lib/format');

const nsText = (ns) => (ns === undefined || !Number.isFinite(ns) ? '–' : ns >= 1000 ? `${us(ns)} µs` : `${ns.toFixed(ns < 10 ? 1 : 0)} ns`);

function nativeCase(result, name, valueBytes) {
  return result.native.cases.find((c) => c.name === name && (valueBytes === undefined || c.valueBytes === valueBytes));
}

function jsCase(result, layer, op, valueBytes) {
  return result.js.find((c) => c.layer === layer && c.op === op && c.valueBytes === valueBytes);
}

/** Per op and value size: C++ op, binding call, SharedCache call, and the shares. */
function layers(result) {
  const rows = [];
  for (const valueBytes of [160, 1000]) {
    for (const op of ['get', 'set']) {
      const cpp = nativeCase(result, op === 'get' ? 'get' : 'set (replace)', valueBytes);
      const binding = jsCase(result, 'binding', op, valueBytes);
      const api = jsCase(result, 'SharedCache', op, valueBytes);
      if (!cpp || !binding || !api) continue;
      rows.push({
        op,
        valueBytes,
        cppNs: cpp.medianNs,
        bindingNs: binding.medianNs,
        apiNs: api.medianNs,
        napiNs: binding.medianNs - cpp.medianNs,
        wrapperNs: api.medianNs - binding.medianNs,
      });
    }
  }
  return rows;
}

function markdown(result, { svgFile } = {}) {
  const p = result.parameters;
  let md = `# Native benchmark: the shm table without Node, and the IPC floor\n\n`;
  md += `${p.keyBytes}-byte keys; a warm table of ${p.items} keys in ${p.items * 2} slots (every get hits); `;
  md += `${p.ms} ms per round, median of ${p.rounds} rounds. Run ${result.startedAt}.\n\n`;
  md += `Machine: ${machineLine(result.machine)}\n\n`;
  if (svgFile) md += `![native benchmark](${svgFile})\n\n`;
  const get160 = nativeCase(result, 'get', 160);
  md += `## C++ (native/bench/bench.cc, g++ -O2)\n\n`;
  md += table(
    ['operation', 'value bytes', 'processes', 'median', 'p99', 'ops/s', '÷ get (160 B)'],
    result.native.cases.map((c) => [
      c.name,
      c.op === 'lock' ? '–' : String(c.valueBytes),
      String(c.processes),
      nsText(c.medianNs),
      nsText(c.p99Ns),
      rate(c.opsPerSec),
      get160 ? times(c.medianNs / get160.medianNs) : '–',
    ]),
  );
  md += `\nops/s of "2 processes at once" is both processes together. The round trips carry a ${result.native.parameters.requestBytes}-byte key out `;
  md += `and a ${result.native.parameters.answerBytes}-byte answer back, with no lookup on the other side: the least any design that asks another process pays.\n\n`;
  md += `## The same calls from JavaScript\n\n`;
  md += `binding = the plain bound Node-API function (getInto / set), one N-API call; SharedCache = the public API on top of it. `;
  md += `N-API call = binding − C++; wrapper = SharedCache − binding.\n\n`;
  md += table(
    ['op', 'value bytes', 'C++', 'binding', 'SharedCache', 'N-API call', 'JS wrapper', 'N-API share of SharedCache'],
    layers(result).map((r) => [r.op, String(r.valueBytes), nsText(r.cppNs), nsText(r.bindingNs), nsText(r.apiNs), nsText(r.napiNs), nsText(r.wrapperNs), pct(r.napiNs / r.apiNs, 0)]),
  );
  const uds = nativeCase(result, 'round trip, Unix domain socket');
  const pipes = nativeCase(result, 'round trip, pipes');
  const jsGet = jsCase(result, 'SharedCache', 'get', 160);
  if (get160 && uds && pipes) {
    md += `\nThe floor of IPC against shared memory: one Unix-socket round trip costs ${times(uds.medianNs / get160.medianNs)} a C++ get `;
    md += `(pipes ${times(pipes.medianNs / get160.medianNs)})`;
    if (jsGet) md += `, ${times(uds.medianNs / jsGet.medianNs)} a whole JavaScript SharedCache.get`;
    md += `. Node's process.send adds JSON serialisation and an event-loop turn on both sides on top of it (bench:micro's IPC store).\n`;
  }
  md += `\nHow: ${result.method}\n`;
  return md;
}

/** Horizontal bars, log scale: median ns per operation, C++ and JavaScript and the IPC floor. */
function chart(result) {
  const values = [];
  for (const c of result.native.cases) {
    values.push({
      what: `${c.name}${c.op === 'lock' || c.op === 'ipc' ? '' : `, ${c.valueBytes} B`}`,
      layer: c.op === 'ipc' ? 'IPC floor (C)' : 'C++ table',
      medianNs: c.medianNs,
      p99Ns: c.p99Ns,
    });
  }
  for (const c of result.js) {
    values.push({ what: `${c.layer}.${c.op === 'get' ? (c.layer === 'binding' ? 'getInto' : 'get') : 'set'}, ${c.valueBytes} B`, layer: 'JavaScript', medianNs: c.medianNs, p99Ns: c.p99Ns });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'ns per operation (median; tick = p99), log scale',
      subtitle: `${result.machine.cpuModel}, ${result.machine.cores} cores, Node ${result.machine.node}`,
    },
    data: { values },
    width: 420,
    height: { step: 16 },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'what', type: 'nominal', title: null, sort: null, axis: { labelLimit: 400 } },
          x: { field: 'medianNs', type: 'quantitative', scale: { type: 'log' }, stack: null, title: 'ns per operation' },
          color: { field: 'layer', type: 'nominal', title: null },
          tooltip: [{ field: 'what' }, { field: 'medianNs' }, { field: 'p99Ns' }],
        },
      },
      {
        mark: { type: 'tick', color: 'black' },
        encoding: {
          y: { field: 'what', type: 'nominal', sort: null },
          x: { field: 'p99Ns', type: 'quantitative' },
        },
      },
    ],
  };
}

module.exports = { markdown, chart, layers };
