'use strict';
// Number formatting for the markdown tables.

/** Nanoseconds as microseconds with three significant digits: 0.312, 86.4, 1230. */
function us(ns) {
  if (ns === undefined || ns === null || !Number.isFinite(ns)) return '–';
  const v = ns / 1000;
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** A rate: 1.23 M, 456 k, 789. */
function rate(n) {
  if (n === undefined || n === null || !Number.isFinite(n)) return '–';
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)} k`;
  return n.toPrecision(3);
}

/** A ratio: 1.42×, 118×. */
function times(x) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '–';
  return `${x >= 100 ? x.toFixed(0) : x.toPrecision(3)}×`;
}

/** A fraction as a percentage: 99.8 %. */
function pct(x, digits = 1) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(digits)} %`;
}

/** A markdown table from a header row and rows of cells. */
function table(header, rows, align) {
  const a = align || header.map((_, i) => (i === 0 ? 'l' : 'r'));
  const sep = a.map((x) => (x === 'r' ? '---:' : x === 'c' ? ':---:' : '---'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
}

/** The machine line every result page starts with. */
function machineLine(m) {
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.platform}; Node ${m.node} (OpenSSL ${m.nodeOpenssl}); ` +
    `load average before ${m.loadAverage.join(' ')}${m.loadAverageAfter ? `, after ${m.loadAverageAfter.join(' ')}` : ''}`
  );
}

module.exports = { us, rate, times, pct, table, machineLine };
