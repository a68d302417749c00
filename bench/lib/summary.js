'use strict';
// Order statistics over latency samples.

/** The q-quantile (0..1) of sorted numbers, nearest-rank. */
function quantileSorted(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Median of unsorted numbers (the input is not modified). */
function median(values) {
  return quantileSorted(Float64Array.from(values).sort(), 0.5);
}

/** { median, p99, mean, count } of unsorted numbers. */
function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    median: quantileSorted(sorted, 0.5),
    p99: quantileSorted(sorted, 0.99),
    mean: sorted.length ? sum / sorted.length : NaN,
    count: sorted.length,
  };
}

/** Rounds to `digits` significant digits, for readable JSON. */
function round(value, digits = 4) {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

module.exports = { quantileSorted, median, summarize, round };
