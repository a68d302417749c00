'use strict';
// The worker-side cost of the outbox: set() of a session-sized value through
// two builds of the addon loaded in ONE process, this one (set appends to the
// outbox) and one built from the commit before it (`--base PATH`, e.g. main's
// build/Release/tls_shm_cache.node), interleaved in short blocks so that a
// busy machine disturbs both alike. Reports the median and the fastest block.
//
//   node bench/remote/set-cost.js --base PATH [--blocks 400] [--ops 5000]
const path = require('node:path');
const { parseArgs } = require('../lib/args');

const args = parseArgs(process.argv.slice(2), { base: '', blocks: 400, ops: 5000 });
if (!args.base) throw new Error('--base PATH: the addon built without the outbox');
const bindings = {
  base: require(path.resolve(args.base)),
  outbox: require(path.join(__dirname, '..', '..', 'build', 'Release', 'tls_shm_cache.node')),
};
const caches = {};
for (const [name, b] of Object.entries(bindings)) caches[name] = b.create(20000, 256, 48, 300).cache;
const key = Buffer.alloc(40);
key.write('default\0');
const value = Buffer.alloc(160, 1);
const times = { base: [], outbox: [] };
let i = 0;
const block = (name) => {
  const c = caches[name];
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < args.ops; k++) {
    key.writeUInt32LE(i++ % 40000, 8);
    c.set(key, value, 300000);
  }
  times[name].push(Number(process.hrtime.bigint() - t0) / args.ops);
};
for (let b = 0; b < 20; b++) block(b % 2 ? 'base' : 'outbox'); // warm-up
times.base.length = times.outbox.length = 0;
for (let b = 0; b < args.blocks; b++) {
  block(b % 2 ? 'base' : 'outbox');
  block(b % 2 ? 'outbox' : 'base');
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const r = {
  baseMedianNs: median(times.base), outboxMedianNs: median(times.outbox),
  baseMinNs: Math.min(...times.base), outboxMinNs: Math.min(...times.outbox),
};
console.log(`set() of a 40-byte key and 160-byte value, ${args.blocks} interleaved blocks of ${args.ops}: ` +
  `median ${r.baseMedianNs.toFixed(1)} ns without the outbox, ${r.outboxMedianNs.toFixed(1)} ns with it; ` +
  `fastest block ${r.baseMinNs.toFixed(1)} vs ${r.outboxMinNs.toFixed(1)} ns`);
for (const c of Object.values(caches)) c.close();
