#!/usr/bin/env node
// Density: how many typical TLS sessions a cache of a given memory holds,
// counted the honest way (issue 10): fill the cache with more distinct
// sessions than can fit (160-byte values under `namespace \0 32-byte id`
// keys, as attachSharedCache stores them), then count how many read back,
// per MiB of the whole segment (header, counters, index, slots, links, blocks).
//
//   node bench/density/run.js [--memory=16777216] [--value=160]
//
// Rows: the default configuration (`memory` alone: blocks sized for the
// typical mix of 90 % 160 B and 10 % 1.1-4 KB sessions), and geometries
// given explicitly for a population of 160-byte sessions only.
'use strict';
const crypto = require('node:crypto');
const { SharedCache, segmentBytes } = require('../../dist/index.js');

const arg = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
};
const memory = arg('memory', 16 * 1024 * 1024);
const valueBytes = arg('value', 160);
const namespace = Buffer.from('default\0');

function itemsFor(blocksize, blocksPerItem, maxKeyLength) {
  let lo = 1;
  let hi = 1 << 24;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (segmentBytes(mid, blocksize, maxKeyLength, mid * blocksPerItem) <= memory) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function measure(label, options) {
  const cache = SharedCache.create({ timeout: 3600, ...options });
  const s = cache.stats();
  const offered = Math.ceil(Math.max(s.items, (s.blocks * s.blocksize) / valueBytes) * 1.5);
  const ids = [];
  const value = crypto.randomBytes(valueBytes);
  for (let i = 0; i < offered; i++) {
    const id = crypto.randomBytes(32);
    ids.push(id);
    cache.set(Buffer.concat([namespace, id]), value);
  }
  let held = 0;
  for (const id of ids) if (cache.get(Buffer.concat([namespace, id])) !== undefined) held++;
  const mib = s.memoryBytes / 2 ** 20;
  const row = {
    configuration: label,
    items: s.items,
    blocksize: s.blocksize,
    blocks: s.blocks,
    maxKeyLength: s.maxKeyLength,
    memoryBytes: s.memoryBytes,
    offered,
    readBack: held,
    perMiB: Math.round(held / mib),
  };
  cache.close();
  return row;
}

const rows = [
  measure('default (memory only; blocks for the typical mix)', { memory }),
  measure('160 B sessions: blocksize 64, 3 blocks per item', (() => {
    const items = itemsFor(64, 3, 64);
    return { items, blocksize: 64, blocks: items * 3 };
  })()),
  measure('160 B sessions: blocksize 32, 5 blocks per item', (() => {
    const items = itemsFor(32, 5, 64);
    return { items, blocksize: 32, blocks: items * 5 };
  })()),
  measure('160 B sessions: blocksize 32, 5 blocks per item, maxKeyLength 40', (() => {
    const items = itemsFor(32, 5, 40);
    return { items, blocksize: 32, blocks: items * 5, maxKeyLength: 40 };
  })()),
];
console.log(`density: ${valueBytes}-byte values, keys of ${namespace.length + 32} bytes, segment budget ${memory} bytes`);
console.table(rows);
