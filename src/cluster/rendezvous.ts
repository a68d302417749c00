/**
 * Sticky routing by rendezvous (highest random weight) hashing.
 *
 * Every connection's routing key (the client address, or what the `sticky`
 * function returns) is hashed once with HalfSipHash-2-4 under a random
 * 64-bit key chosen when the primary starts; each live worker then scores it
 * with its own seed, and the highest score wins. When a worker dies, only
 * the keys it won move (each to its second-best worker); the others keep
 * their worker. A modulo hash (sticky-session, sticky-cluster) moves about
 * (N-1)/N of all keys instead. The hash is keyed so that nobody outside can
 * choose addresses that all land on one worker.
 */
import crypto from 'node:crypto';

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability ~1/2. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * HalfSipHash-2-4 (SipHash's 32-bit variant) over the UTF-16 code units of
 * `text`, two to a message word. Routing keys are short ASCII strings
 * (addresses), so hashing code units avoids encoding them to bytes first.
 */
export function halfSipHash(k0: number, k1: number, text: string): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = (0x6c796765 ^ k0) | 0;
  let v3 = (0x74656462 ^ k1) | 0;
  const n = text.length;
  const whole = n & ~1;
  // The SipHash round is written out: a closure over v0..v3 made a routing
  // decision several times slower in bench:hash (V8 then keeps them in a context).
  for (let i = 0; i < whole; i += 2) {
    const m = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    v3 ^= m;
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  // Last word: the remaining code unit and the length, as SipHash does with bytes.
  const last = (n & 1 ? text.charCodeAt(whole) : 0) | ((n & 0xffff) << 16);
  v3 ^= last;
  for (let r = 0; r < 2; r++) {
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
  }
  v0 ^= last;
  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}

/** Picks a worker for a routing key among the live ones; stable while the set of live workers is. */
export class Rendezvous {
  readonly #k0: number;
  readonly #k1: number;
  /** One seed per worker index (an index keeps its seed when its worker is replaced). */
  readonly #seeds: number[] = [];

  /** `key`: 8 bytes; random when not given (tests and benchmarks pass one to be reproducible). */
  constructor(key: Uint8Array = crypto.randomBytes(8)) {
    if (key.length !== 8) throw new RangeError('Rendezvous: the key must be 8 bytes');
    const view = Buffer.from(key.buffer, key.byteOffset, 8);
    this.#k0 = view.readUInt32LE(0);
    this.#k1 = view.readUInt32LE(4);
  }

  #seed(index: number): number {
    let seed = this.#seeds[index];
    if (seed === undefined) seed = this.#seeds[index] = halfSipHash(this.#k0, this.#k1, `\0worker ${index}`);
    return seed;
  }

  /** The keyed hash of a routing key (computed once per connection). */
  hash(key: string): number {
    return halfSipHash(this.#k0, this.#k1, key);
  }

  /**
   * The index among `live` (worker indexes) that wins `key`; -1 when `live`
   * is empty. Ties (2^-32 per pair) go to the lower position in `live`.
   */
  pick(key: string, live: readonly number[]): number {
    const h = this.hash(key);
    let best = -1;
    let bestWeight = -1;
    for (let i = 0; i < live.length; i++) {
      const weight = fmix32(h ^ this.#seed(live[i]));
      if (weight > bestWeight) {
        bestWeight = weight;
        best = live[i];
      }
    }
    return best;
  }
}

/**
 * The routing form of an address: an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, what a dual-stack listener reports for IPv4 clients)
 * routes as the IPv4 address, so one client routes alike on either stack.
 */
export function routingAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
