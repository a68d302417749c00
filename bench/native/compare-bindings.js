'use strict';
// node bench/native/compare-bindings.js OLD.node NEW.node [--rounds 7 --duration 0.5 --items 10000]
//
// A/B of two builds of the addon in one process: times the raw binding's set
// (and getInto) of each on a table of its own, alternating A and B round by
// round so that the machine's drifts hit both alike; prints the median over
// rounds of each and their ratio. Used to measure `set` as a plain bound
// Node-API function against the ObjectWrap method it replaced:
//   git stash; npm run build:native; cp build/Release/tls_shm_cache.node /tmp/old.node; git stash pop; npm run build:native
//   node bench/native/compare-bindings.js /tmp/old.node build/Release/tls_shm_cache.node
const path = require('node:path');
const { parseArgs } = require('../lib/args');
const { median, summarize } = require('../lib/summary');
const { makeKeys, makeValue, makeOrder } = require('../lib/workload');
const { timerOverheadNs, timeGets, timeSets } = require('../micro/measure');

const files = process.argv.slice(2, 4);
if (files.length !== 2) {
  console.error('usage: node bench/native/compare-bindings.js OLD.node NEW.node [--rounds N --duration S --items N]');
  process.exit(2);
}
const args = parseArgs(process.argv.slice(4), { rounds: 7, duration: 0.5, items: 10000, valueBytes: 160 });
const keys = makeKeys(args.items, 32);
const value = makeValue(args.valueBytes);
const order = makeOrder(args.items, 1 << 16, 0x9e3779b9);
const overhead = timerOverheadNs();
const ttlMs = 3600 * 1000;

const sides = files.map((file) => {
  const binding = require(path.resolve(file));
  const cache = binding.create(args.items * 2, 256, 64, 3600).cache;
  cache.setSlab(Buffer.allocUnsafeSlow(256));
  for (const key of keys) cache.set(key, value, ttlMs);
  return {
    file,
    store: { get: (key) => (cache.getInto(key, 0) >= 0 ? true : undefined), set: (key, v) => cache.set(key, v, ttlMs) <= 1 },
    cache,
    rounds: { get: [], set: [] },
  };
});
const batch = 256;
for (let r = -1; r < args.rounds; r++) {
  for (const side of r % 2 ? sides : [...sides].reverse()) {
    for (const op of ['set', 'get']) {
      const t = op === 'get'
        ? timeGets(side.store, keys, order, batch, args.duration * 1e9, overhead)
        : timeSets(side.store, keys, order, value, batch, args.duration * 1e9, overhead);
      if (r >= 0) side.rounds[op].push(summarize(t.perOpNs).median); // round -1 warms up
    }
  }
}
for (const op of ['set', 'get']) {
  const [a, b] = sides.map((s) => median(s.rounds[op]));
  console.log(`${op}: A ${a.toFixed(1)} ns, B ${b.toFixed(1)} ns, B/A ${(b / a).toFixed(3)}  (median of ${args.rounds} alternating rounds; A=${files[0]}, B=${files[1]})`);
}
for (const s of sides) s.cache.close();
