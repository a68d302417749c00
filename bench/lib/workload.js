'use strict';
// The data every store is measured on: the same keys, values and access order
// in every process, derived from a seed so that the primary, each worker and
// each competitor agree without passing data around.
const crypto = require('node:crypto');

/** Session-id-like keys: `count` distinct keys of `keyBytes` pseudo-random bytes. */
function makeKeys(count, keyBytes = 32, seed = 'tls-shm-cache-bench') {
  const keys = new Array(count);
  for (let i = 0; i < count; i++) {
    const digest = crypto.createHash('sha512').update(`${seed}:key:${i}`).digest();
    keys[i] = Buffer.from(digest.subarray(0, keyBytes));
  }
  return keys;
}

/** A session-sized value of `valueBytes` pseudo-random bytes. */
function makeValue(valueBytes = 200, seed = 'tls-shm-cache-bench') {
  const out = Buffer.alloc(valueBytes);
  for (let off = 0, i = 0; off < valueBytes; i++) {
    off += crypto.createHash('sha512').update(`${seed}:value:${i}`).digest().copy(out, off);
  }
  return out;
}

/**
 * A pseudo-random visiting order over `count` items (xorshift32), `length`
 * long, as a typed array of indexes: lookups hit keys all over the table
 * rather than one hot key.
 */
function makeOrder(count, length, seed = 0x9e3779b9) {
  const order = new Uint32Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    order[i] = x % count;
  }
  return order;
}

module.exports = { makeKeys, makeValue, makeOrder };
