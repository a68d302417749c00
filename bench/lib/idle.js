'use strict';
// The machine is shared (other jobs run on the same cores): before each trial,
// wait until the CPUs have been mostly idle for a second, so that a trial does
// not start in the middle of someone else's burst. Bounded: after `maxWaitS`
// the trial starts anyway, and the idle fraction seen is recorded with it.
const fs = require('node:fs');

function cpuTimes() {
  // First line of /proc/stat: cpu user nice system idle iowait irq softirq steal ...
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + (fields[4] || 0);
  return { idle, total: fields.reduce((a, b) => a + b, 0) };
}

/** Fraction of CPU time idle over the next `ms` milliseconds (Linux; 1 elsewhere). */
async function idleFraction(ms = 1000) {
  if (process.platform !== 'linux') return 1;
  const a = cpuTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = cpuTimes();
  return b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : 1;
}

/**
 * Waits until a one-second sample is at least `minIdle` idle (0 = do not wait).
 * @returns {Promise<{idle: number, waitedS: number}>} the last sample and the seconds waited
 */
async function waitForIdle(minIdle, maxWaitS = 90) {
  if (!(minIdle > 0)) return { idle: null, waitedS: 0 };
  const started = Date.now();
  let idle = await idleFraction();
  while (idle < minIdle && Date.now() - started < maxWaitS * 1000) idle = await idleFraction();
  return { idle: Math.round(idle * 1000) / 1000, waitedS: Math.round((Date.now() - started) / 100) / 10 };
}

module.exports = { idleFraction, waitForIdle };
