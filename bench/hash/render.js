'use strict';
// Markdown table and chart of a hash-scatter result (bench/hash/run.js).

function markdown(result, { svgFile } = {}) {
  const lines = [
    `# Sticky routing: hash speed, spread and movement`,
    '',
    `${result.parameters.keys} random addresses (half IPv4, half IPv6); ${result.machine.cpuModel}, Node ${result.machine.node}. ` +
      `sticky-session ${result.versions['sticky-session']}, sticky-cluster ${result.versions['sticky-cluster']} (string-hash ${result.versions['string-hash']}).`,
    '',
    result.method,
    '',
    '| workers | scheme | ns/key | spread (max/min) | moved when 1 dies | ideal | stranded |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of result.cells) {
    const pct = (x) => `${(x * 100).toFixed(1)} %`;
    lines.push(`| ${c.workers} | ${result.labels[c.scheme]} | ${c.nsPerKey} | ${c.spread.toFixed(2)} | ${pct(c.movedOnDeath)} | ${pct(c.ideal)} | ${pct(c.strandedOnDeath)} |`);
  }
  if (svgFile) lines.push('', `![chart](${svgFile})`);
  return lines.join('\n') + '\n';
}

function chart(result) {
  const values = result.cells.flatMap((c) => [
    { scheme: result.labels[c.scheme], workers: `${c.workers} workers`, metric: 'spread (max/min keys)', value: c.spread },
    { scheme: result.labels[c.scheme], workers: `${c.workers} workers`, metric: 'moved when 1 dies, %', value: c.movedOnDeath * 100 },
    { scheme: result.labels[c.scheme], workers: `${c.workers} workers`, metric: 'ns per key', value: c.nsPerKey },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Sticky routing schemes', subtitle: `${result.parameters.keys} random addresses, Node ${result.machine.node}` },
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null }, row: { field: 'workers', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 200,
      height: 120,
      mark: 'bar',
      encoding: {
        x: { field: 'scheme', type: 'nominal', title: null, axis: { labelAngle: -30, labelLimit: 300 } },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'scheme', type: 'nominal', legend: null },
      },
    },
  };
}

module.exports = { markdown, chart };
