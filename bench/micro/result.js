'use strict';
// The shape of a micro result, for the code that reads one (render.js,
// ../model/model.js). Value size is a dimension: each trial has
// `sizes: [{ valueBytes, warmMs, ops: { get, getPolled?, set } }]`, one entry
// per size in `parameters.sizes`, in the order they were measured. Results
// recorded before sizes existed had one size (`parameters.valueBytes`) and the
// ops directly on the trial (`trial.ops`); upgrade() reads them as one-size
// results, so that `npm run bench:report` still renders them.

/** The size of a typical TLS 1.2 session (32-byte id): the size the targets and the stats poller phase use. */
const TYPICAL_BYTES = 160;

/** The size of `sizes` that stands for the typical session: 160 if measured, else the first. */
function typicalSize(sizes) {
  return sizes.includes(TYPICAL_BYTES) ? TYPICAL_BYTES : sizes[0];
}

/** The result in the current shape (the same object when it already is). */
function upgrade(result) {
  if (Array.isArray(result.parameters.sizes)) return result;
  const valueBytes = result.parameters.valueBytes;
  return {
    ...result,
    parameters: { ...result.parameters, sizes: [valueBytes] },
    trials: result.trials.map(({ ops, warmMs, ...trial }) => ({ ...trial, sizes: [{ valueBytes, warmMs, ops }] })),
  };
}

/** A trial's ops at one value size ({ get, getPolled?, set }), or undefined if that size was not measured. */
function opsAt(trial, valueBytes) {
  const s = trial && trial.sizes.find((x) => x.valueBytes === valueBytes);
  return s ? s.ops : undefined;
}

/** A trial's ops at the typical size of `sizes`. */
function typicalOps(trial, sizes) {
  return opsAt(trial, typicalSize(sizes));
}

module.exports = { TYPICAL_BYTES, typicalSize, upgrade, opsAt, typicalOps };
