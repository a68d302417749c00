#!/usr/bin/env node
// Density: how many TLS sessions a cache of a given memory holds, counted the
// honest way (issue 10): fill the cache with more distinct sessions than can
// fit, under the keys attachSharedCache stores them by (the 32-byte session ID
// in the default namespace, src/tls/session-key.ts), then count how many read
// back whole, per MiB of the whole segment (header, counters, index, slots,
// links, blocks, outbox).
//
//   node bench/density/run.js [--memory=16777216] [--out=bench/results]
//
// Rows: `memory` alone (the defaults derive everything else) with the default
// granule (96), 64-byte blocks and 104-byte blocks (two hold 208 bytes: a
// session of up to 176 bytes under its key), for the typical 160-byte session,
// what Node makes with ALPN (164 B with h2, 170 B with http/1.1; measured with
// Node 20 and OpenSSL 3, RSA-2048 or P-256 server key), a session with an
// RSA-4096 client certificate (1519 B), and the typical mix (90 % 160 B, 10 %
// 1.1-4 KB). For the mix, `filled` says how much of the memory its bytes of
// key and value take when the cache is full.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { SharedCache } = require('../../dist/index.js');
const { DEFAULT_BLOCKSIZE } = require('../../dist/core/shared-cache');

const arg = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const memory = Number(arg('memory', 16 * 1024 * 1024));
const out = arg('out', path.join(__dirname, '..', 'results'));

/** Sizes of the sessions to offer: a fixed size, or the typical mix. */
const populations = [
  { label: '160 B (the typical TLS 1.2 session)', size: () => 160 },
  { label: '164 B (Node, ALPN h2)', size: () => 164 },
  { label: '170 B (Node, ALPN http/1.1)', size: () => 170 },
  { label: '1519 B (RSA-4096 client certificate)', size: () => 1519 },
  { label: 'mix: 90 % 160 B, 10 % 1.1-4 KB', size: (i) => (i % 10 === 9 ? 1100 + ((i * 7919) % 2901) : 160) },
];

function measure(population, blocksize) {
  const cache = SharedCache.create({ memory, blocksize, timeout: 3600 });
  const s = cache.stats();
  // More than fit by slots and by blocks, whichever bounds first.
  const offered = Math.ceil(Math.max(s.items, (s.blocks * s.blocksize) / (32 + population.size(0))) * 1.5);
  const ids = [];
  const values = new Map();
  for (let i = 0; i < offered; i++) {
    const id = crypto.randomBytes(32);
    const n = population.size(i);
    if (!values.has(n)) values.set(n, crypto.randomBytes(n));
    ids.push([id, n]);
    cache.set(id, values.get(n));
  }
  let held = 0;
  let bytes = 0;
  for (const [id, n] of ids) {
    const v = cache.get(id);
    if (v !== undefined && v.equals(values.get(n))) {
      held++;
      bytes += 32 + n;
    }
  }
  const mib = s.memoryBytes / 2 ** 20;
  const row = {
    sessions: population.label,
    blocksize: s.blocksize,
    items: s.items,
    blocks: s.blocks,
    memoryBytes: s.memoryBytes,
    offered,
    readBack: held,
    perMiB: Math.round(held / mib),
    filled: `${((100 * bytes) / s.memoryBytes).toFixed(1)} %`,
  };
  cache.close();
  return row;
}

const rows = [];
for (const population of populations) {
  for (const blocksize of [DEFAULT_BLOCKSIZE, 64, 104]) rows.push(measure(population, blocksize));
}
const title = `density: sessions under 32-byte keys, segment budget ${memory} bytes (\`memory\` alone; blocksize ${DEFAULT_BLOCKSIZE} is the default)`;
console.log(title);
console.table(rows);
const columns = Object.keys(rows[0]);
const md = [
  `# ${title}`,
  '',
  `| ${columns.join(' | ')} |`,
  `|${columns.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${columns.map((c) => r[c]).join(' | ')} |`),
  '',
  `Command: \`node bench/density/run.js --memory=${memory}\`; Node ${process.version}.`,
  '',
].join('\n');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'density.json'), JSON.stringify({ density: true, memory, node: process.version, rows }, null, 2) + '\n');
fs.writeFileSync(path.join(out, 'density.md'), md);
console.error(`wrote ${path.join(out, 'density.json')} and density.md`);
