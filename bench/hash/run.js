'use strict';
// npm run bench:hash [-- --keys 200000 --workers 2,4,8,16 --repeat 5 --results DIR]
//
// Sticky routing schemes side by side (sticky-cluster's hash benchmark,
// extended): random client addresses (half IPv4, half IPv6, as
// sticky-cluster's benchmark makes them), routed over N workers by each
// scheme's real hash function. Per scheme and N:
// - ns per key: one routing decision, what the primary pays per connection
//   (median over `repeat` passes over all keys);
// - spread: keys on the busiest worker / keys on the idlest (1.00 is even);
// - moved when one of N dies: the share of ALL keys whose worker changes
//   (ideal 1/N: only the dead worker's keys), and for schemes that do not
//   move the dead worker's keys, the share left with no live worker.
// Writes <results>/hash.json, hash.md and hash.svg.
const crypto = require('node:crypto');
const { parseArgs, list } = require('../lib/args');
const { describeMachine } = require('../lib/machine');
const { DEFAULT_DIR, publishResult, runMain } = require('../lib/results');
const { packageVersion } = require('../lib/versions');
const { round } = require('../lib/summary');
const { schemes } = require('./schemes');

const DEFAULTS = { keys: 200000, workers: '2,4,8,16', repeat: 5, results: DEFAULT_DIR, name: 'hash' };

function randomAddresses(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = crypto.randomBytes(16);
    if (i % 2 === 0) out[i] = `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
    else {
      const groups = [];
      for (let g = 0; g < 8; g++) groups.push(b.readUInt16BE(g * 2).toString(16));
      out[i] = groups.join(':');
    }
  }
  return out;
}

function measure(name, scheme, addresses, n, repeat) {
  const route = scheme.make ? scheme.make() : scheme.route;
  const ids = Array.from({ length: n }, (_, i) => i);
  // Speed: the whole key set per pass, median pass.
  const passes = [];
  let sink = 0;
  for (let r = 0; r < repeat; r++) {
    const start = process.hrtime.bigint();
    for (const a of addresses) sink += route(a, ids, ids);
    passes.push(Number(process.hrtime.bigint() - start) / addresses.length);
  }
  passes.sort((x, y) => x - y);
  // Spread and movement.
  const counts = new Array(n).fill(0);
  const before = addresses.map((a) => route(a, ids, ids));
  for (const w of before) counts[w]++;
  const dead = n - 1 - Math.floor(n / 2); // a worker in the middle of the array
  const live = scheme.afterDeath(ids, dead);
  let moved = 0;
  let stranded = 0;
  addresses.forEach((a, i) => {
    const w = route(a, live, ids);
    if (w === dead) stranded++;
    else if (w !== before[i]) moved++;
  });
  return {
    scheme: name,
    workers: n,
    nsPerKey: round(passes[passes.length >> 1]),
    spread: round(Math.max(...counts) / Math.max(1, Math.min(...counts))),
    counts,
    movedOnDeath: round(moved / addresses.length),
    strandedOnDeath: round(stranded / addresses.length),
    ideal: round(1 / n),
    sink: sink % 2,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2), DEFAULTS);
  const workers = list(args.workers).map(Number);
  const addresses = randomAddresses(args.keys);
  // Warm every scheme's code up before timing any of them.
  for (const [name, scheme] of Object.entries(schemes)) measure(name, scheme, addresses.slice(0, 20000), 4, 2);
  const cells = [];
  for (const n of workers) {
    for (const [name, scheme] of Object.entries(schemes)) {
      const cell = measure(name, scheme, addresses, n, args.repeat);
      process.stderr.write(`hash: ${name} N=${n}: ${cell.nsPerKey} ns/key, spread ${cell.spread}, moved ${cell.movedOnDeath}, stranded ${cell.strandedOnDeath}\n`);
      cells.push(cell);
    }
  }
  await publishResult(args.results, args.name, {
    benchmark: 'hash',
    startedAt: new Date().toISOString(),
    machine: describeMachine(),
    parameters: { keys: args.keys, workers, repeat: args.repeat },
    labels: Object.fromEntries(Object.entries(schemes).map(([k, s]) => [k, s.label])),
    versions: { 'sticky-session': packageVersion('sticky-session'), 'sticky-cluster': packageVersion('sticky-cluster'), 'string-hash': packageVersion('string-hash'), ip: packageVersion('ip') },
    method:
      'Random addresses, half IPv4 and half IPv6. ns/key: one routing decision (for sticky-session including ip.toBuffer, as its ' +
      'balancer does per connection), median of `repeat` passes over all keys, in one process. Spread: max/min keys per worker. ' +
      'Moved: share of all keys whose worker changes when one of N workers dies (ideal 1/N). Stranded: share of keys still routed to ' +
      'the dead worker (sticky-cluster keeps hash % concurrency, so those clients have no worker until the respawn).',
    cells,
  });
}

runMain(main);
