/**
 * How each attached server uses the cluster's ring of ticket keys
 * (ticket-ring.ts), in one of two modes:
 *
 * `ring` — the server's default SecureContext gets Node's ticket key callback
 * (`context.enableTicketKeyCallback()` + `context.onticketkeycallback(name,
 * iv, enc)`: undocumented, present in Node 18 to 24, used by Node's own
 * test-https-resume-after-renew). Every ticket the server issues is sealed
 * with the ring's current key; every ticket it reads is looked up by key name
 * in the whole ring. Only the default context matters (OpenSSL asks the
 * context the connection started on; SNI contexts' keys are never used), and
 * setSecureContext() replaces it, so the callback is installed again then.
 *
 * `single-key` — a runtime without that callback (a future Node, Bun, Deno):
 * the ring's current key goes through the public setTicketKeys(), Node holds
 * that one key, and each rotation costs every outstanding ticket a full
 * handshake. Re-applied after listen() (the cluster module copies the first
 * worker's key over it), after setSecureContext(), and when the generation
 * moves (checked on every connection). A warning says so once per process.
 *
 * The callback's contract, and why it is written this way:
 * - it returns `[ret, hmacKey, aesKey, name?, iv?]`: ret 1 = use, 2 = valid
 *   but issue a fresh ticket, 0 = unknown key (full handshake), < 0 = error
 *   (the handshake fails). Node calls Buffer::Length on the key slots without
 *   a type check: any non-Buffer there aborts the whole process, even with
 *   ret 0. So every answer is prebuilt with Buffers and nothing in it can
 *   throw: an exception would surface as an uncaught error in the server.
 * - TLS 1.3 resumption answered 1 issues NO new ticket, so a client that uses
 *   each ticket once (browsers) would resume only every other connection.
 *   The callback is not told the TLS version, so every decrypt is answered 2
 *   (renew), as nginx does for TLS 1.3; what that costs TLS 1.2 clients is
 *   measured in bench/tls (README: ticket keys).
 * - Node copies the returned buffers before returning to OpenSSL, so the
 *   answers are reused: no allocation per ticket; IVs come from a pool of
 *   random bytes refilled every 256 tickets.
 * - the ring is re-read only when its generation moves: one atomic load
 *   through N-API per call.
 *
 * Keys are secrets: never logged, never returned by stats; copies read out
 * of the segment are zeroed when replaced.
 */
import crypto from 'node:crypto';
import type tls from 'node:tls';
import {
  TICKET_KEY_APPLIED,
  TICKET_RENEWED,
  TICKET_RING_INSTALLED,
  TICKET_SINGLE_KEY_INSTALLED,
  TICKET_UNKNOWN_KEY,
} from '../core/counters';
import type { SharedCache } from '../core/shared-cache';
import { CURRENT, decodeRing, randomRecord, RING_SLOTS, singleKeyOf, TicketKeyRecord } from './ticket-ring';

export { rotateTicketRing as rotateTicketKey } from './ticket-ring';

/** How a server uses the ring: see the module comment. */
export type TicketKeyMode = 'ring' | 'single-key';

/** The SecureContext methods used here (lib/internal/tls/secure-context.js, src/crypto/crypto_context.cc). */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: TicketKeyCallback;
}
type TicketKeyCallback = (name: Buffer, iv: Buffer, enc: boolean) => unknown[];
interface ServerInternals {
  _sharedCreds?: { context?: NativeContext };
}

/**
 * Renew tickets decrypted under the current key (default true: single-use
 * TLS 1.3 clients then always hold a fresh ticket). Internal, for bench/tls,
 * which measures what it costs TLS 1.2 clients.
 */
let renewCurrent = true;
/** @internal */
export function setRenewCurrent(value: boolean): void {
  renewCurrent = value;
}

/** True if this runtime offers the ticket key callback on a server's default context. */
export function hasTicketKeyCallback(server: tls.Server): boolean {
  const context = (server as unknown as ServerInternals)._sharedCreds?.context;
  return typeof context?.enableTicketKeyCallback === 'function';
}

let warnedSingleKey = false;

/** What attach.ts drives: keep the server on the ring. */
export interface TicketKeyFollower {
  readonly mode: TicketKeyMode;
  /**
   * Makes sure the server uses the segment's ring: cheap when nothing
   * changed; `force` after something replaced the server's context or key
   * (listen in a cluster worker, setSecureContext).
   */
  sync(force?: boolean): void;
  /** Stops reading the cache (it may be closed next); the server keeps the keys it has. */
  stop(): void;
}

/** Picks the mode this runtime allows and starts following the ring. */
export function followTicketKeys(server: tls.Server, cache: SharedCache): TicketKeyFollower {
  if (hasTicketKeyCallback(server)) {
    cache.count(TICKET_RING_INSTALLED);
    return new RingFollower(server, cache);
  }
  cache.count(TICKET_SINGLE_KEY_INSTALLED);
  if (!warnedSingleKey) {
    warnedSingleKey = true;
    process.emitWarning(
      'tls-shm-cache: this runtime has no SecureContext.enableTicketKeyCallback(); the ticket key ring falls back to ' +
        "one key through setTicketKeys(): tickets issued before a rotation cost a full handshake, and TLS 1.3 clients that use " +
        'each ticket once resume about every other connection',
      'TlsShmCacheWarning',
    );
  }
  return new SingleKeyFollower(server, cache);
}

/**
 * The ticket key callback of one server, bound to the ring in the segment.
 * Exported for the fuzz test; attach.ts uses followTicketKeys().
 */
export class RingCallback {
  readonly #cache: SharedCache;
  #generation = -1;
  #stopped = false;
  /** Key names of the ring by slot, and the answer for a ticket under each. */
  #names: (Buffer | undefined)[] = new Array(RING_SLOTS).fill(undefined);
  #decryptAnswers: (unknown[] | undefined)[] = new Array(RING_SLOTS).fill(undefined);
  #renewAnswers: (unknown[] | undefined)[] = new Array(RING_SLOTS).fill(undefined);
  #records: (TicketKeyRecord | undefined)[] = new Array(RING_SLOTS).fill(undefined);
  /**
   * This process's own key, used until the ring has a current key (a cache
   * that never rotated; `tickets: false` never installs the callback): the
   * same as Node's random per-process key. Decrypts (and renews) afterwards.
   */
  readonly #local: TicketKeyRecord = randomRecord();
  readonly #localRenew: unknown[];
  readonly #iv = Buffer.alloc(16);
  /**
   * Random bytes for IVs, refilled 256 IVs at a time: crypto.randomFillSync
   * costs about 7-15 µs per call whatever its size (measured on Node 20), as
   * much as 1 % of a handshake if paid per ticket. IVs are not secret (they
   * travel in the ticket), only unpredictable.
   */
  readonly #ivPool = Buffer.alloc(4096);
  #ivOffset = 4096;
  #encryptAnswer: unknown[];
  /** "Unknown key": Buffers in every slot, because Node aborts on anything else. */
  readonly #unknownAnswer: unknown[] = [0, Buffer.alloc(32), Buffer.alloc(16)];

  constructor(cache: SharedCache) {
    this.#cache = cache;
    this.#localRenew = [2, this.#local.hmac, this.#local.aes];
    this.#encryptAnswer = [1, this.#local.hmac, this.#local.aes, this.#local.name, this.#iv];
    this.#refresh();
  }

  /** The generation of the ring in use (-1: none read yet). */
  get generation(): number {
    return this.#generation;
  }

  /** Stops reading the segment (before the cache closes); the keys held stay in use. */
  stop(): void {
    this.#stopped = true;
  }

  /** Node's onticketkeycallback(name, iv, enc). Never throws; every key slot of every answer is a Buffer. */
  readonly callback: TicketKeyCallback = (name, _iv, enc) => {
    try {
      this.#refresh();
      if (enc) {
        this.#nextIv();
        return this.#encryptAnswer;
      }
      if (!(name instanceof Uint8Array) || name.length !== 16) return this.#unknownAnswer;
      for (let slot = 0; slot < RING_SLOTS; slot++) {
        const known = this.#names[slot];
        if (known !== undefined && known.equals(name)) {
          if (slot === CURRENT && !renewCurrent) return this.#decryptAnswers[slot]!;
          this.#cache.count(TICKET_RENEWED);
          return this.#renewAnswers[slot]!;
        }
      }
      if (this.#local.name.equals(name)) {
        this.#cache.count(TICKET_RENEWED);
        return this.#localRenew;
      }
      this.#cache.count(TICKET_UNKNOWN_KEY);
      return this.#unknownAnswer;
    } catch {
      // Only our own failure gets here (a closed cache): refuse the ticket,
      // which costs a full handshake, rather than fail the connection.
      return enc ? this.#encryptAnswer : this.#unknownAnswer;
    }
  };

  #nextIv(): void {
    if (this.#ivOffset === this.#ivPool.length) {
      crypto.randomFillSync(this.#ivPool);
      this.#ivOffset = 0;
    }
    const pool = this.#ivPool;
    const at = this.#ivOffset;
    for (let i = 0; i < 16; i++) this.#iv[i] = pool[at + i];
    this.#ivOffset = at + 16;
  }

  #refresh(): void {
    if (this.#stopped || this.#cache.closed) return;
    const generation = this.#cache.ticketKeyGeneration();
    if (generation === this.#generation || generation === 0) return;
    const read = this.#cache.ticketRing();
    if (!read) return; // a writer is mid-update: keep the ring held, look again next call
    const ring = decodeRing(read.ring, read.present, read.generation);
    read.ring.fill(0);
    if (!ring.keys[CURRENT]) {
      // Nothing to encrypt with (e.g. recovery without randomness): keep what we have.
      this.#generation = read.generation;
      return;
    }
    for (const old of this.#records) {
      old?.hmac.fill(0);
      old?.aes.fill(0);
    }
    this.#records = ring.keys;
    for (let slot = 0; slot < RING_SLOTS; slot++) {
      const key = ring.keys[slot];
      this.#names[slot] = key?.name;
      this.#decryptAnswers[slot] = key ? [1, key.hmac, key.aes] : undefined;
      this.#renewAnswers[slot] = key ? [2, key.hmac, key.aes] : undefined;
    }
    const current = ring.keys[CURRENT]!;
    this.#encryptAnswer = [1, current.hmac, current.aes, current.name, this.#iv];
    this.#generation = read.generation;
    this.#cache.count(TICKET_KEY_APPLIED);
  }
}

/** Mode `ring`: the callback on the server's current default context, installed again when the context changes. */
class RingFollower implements TicketKeyFollower {
  readonly mode = 'ring' as const;
  readonly #server: tls.Server;
  readonly #cache: SharedCache;
  readonly #callback: RingCallback;
  #installedOn: NativeContext | undefined;

  constructor(server: tls.Server, cache: SharedCache) {
    this.#server = server;
    this.#cache = cache;
    this.#callback = new RingCallback(cache);
    this.sync(true);
  }

  sync(force = false): void {
    const context = (this.#server as unknown as ServerInternals)._sharedCreds?.context;
    if (!context || (!force && context === this.#installedOn)) return;
    if (context !== this.#installedOn) {
      if (typeof context.enableTicketKeyCallback !== 'function') return;
      context.onticketkeycallback = this.#callback.callback;
      context.enableTicketKeyCallback();
      if (this.#installedOn !== undefined) this.#cache.count(TICKET_KEY_APPLIED); // a new context (setSecureContext)
      this.#installedOn = context;
    }
  }

  stop(): void {
    this.#callback.stop();
  }
}

/** Mode `single-key`: the ring's current key through setTicketKeys (Node holds one key). */
class SingleKeyFollower implements TicketKeyFollower {
  readonly mode = 'single-key' as const;
  readonly #server: tls.Server;
  readonly #cache: SharedCache;
  /** Generation last applied to the server; 0 = none yet. */
  #applied = 0;
  #stopped = false;

  constructor(server: tls.Server, cache: SharedCache) {
    this.#server = server;
    this.#cache = cache;
    this.sync(true);
  }

  sync(force = false): void {
    if (this.#stopped) return;
    const generation = this.#cache.ticketKeyGeneration();
    if (generation === 0) return; // no ring published yet: Node's own key stays
    if (!force && generation === this.#applied) return;
    const read = this.#cache.ticketRing();
    if (!read) return;
    const ring = decodeRing(read.ring, read.present, read.generation);
    read.ring.fill(0);
    const current = ring.keys[CURRENT];
    if (current) {
      const key = singleKeyOf(current);
      try {
        this.#server.setTicketKeys(key);
      } finally {
        key.fill(0);
      }
      this.#applied = read.generation;
      this.#cache.count(TICKET_KEY_APPLIED);
    }
    for (const k of ring.keys) {
      k?.hmac.fill(0);
      k?.aes.fill(0);
    }
  }

  stop(): void {
    this.#stopped = true;
  }
}
