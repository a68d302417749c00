/**
 * The fleet's ticket-key ring, kept in Redis, sealed, and copied into each
 * host's segment.
 *
 * The document (`<prefix>:ring`) is sealed with AES-256-GCM (seal.ts, purpose
 * 'ring') and holds up to three 48-byte Node ticket keys:
 * - current: seals new tickets on every host;
 * - previous: still opens tickets sealed before the last rotation;
 * - next: published `leadMs` before it becomes current, decrypt-only, so that
 *   every host holds it before any host seals a ticket with it (a host that
 *   polls every `pollIntervalMs` has it within that time; the lead is three
 *   poll intervals).
 *
 * One host at a time changes it: it takes `<prefix>:ring:lock` with SET NX PX
 * and a fencing token from INCR `<prefix>:ring:fence`; the write itself is a
 * Lua script that checks, inside Redis, that the lock still names this token
 * and that no write with a higher token happened, so a host that stalled past
 * its lock's expiry cannot overwrite a newer ring. Each write also adds a
 * `ring` entry to the session stream, which every host reads anyway: that is
 * the change notification (no third connection for pub/sub); polling every
 * `pollIntervalMs` is the fallback.
 *
 * A ring lost from Redis (FLUSHALL, a failover to an empty replica) is
 * re-seeded by the first host that notices, from its own local ring, so that
 * tickets issued before stay valid.
 *
 * The local side is an interface: today's TLS layer holds ONE key in the
 * segment (SingleKeyRing below): it installs `current` and cannot use
 * `previous`/`next` (a rotation still costs each outstanding ticket a full
 * handshake, as it does on one host). A segment ring that holds all three
 * (issue 11) plugs in through the same interface.
 */
import crypto from 'node:crypto';
import type { SharedCache } from '../core/shared-cache';
import { open, seal, SealKey } from './seal';
import type { RedisConnection } from './redis-client';

/** Bytes of one Node ticket key (16 name, 16 HMAC, 16 AES). */
export const RING_KEY_BYTES = 48;

/** A ring as the hosts share it. Keys are secrets: wipe copies when done. */
export interface RingSnapshot {
  /** +1 per rotation (next becoming current). */
  generation: number;
  current: Buffer;
  previous?: Buffer;
  /** Decrypt-only until it becomes current. */
  next?: Buffer;
}

/** The host's own copy of the ring (the segment). */
export interface LocalKeyRing {
  /** What the adapter can hold: 'single-key' or 'ring'. */
  readonly kind: string;
  /** The local ring, or undefined when it holds no key yet. */
  read(): RingSnapshot | undefined;
  /** Makes the local ring equal to `ring` (no-op when it already is). */
  install(ring: RingSnapshot): void;
}

/** The segment's one cluster key (src/tls/ticket-keys.ts) as a LocalKeyRing. */
export class SingleKeyRing implements LocalKeyRing {
  readonly kind = 'single-key';
  readonly #cache: SharedCache;

  constructor(cache: SharedCache) {
    this.#cache = cache;
  }

  read(): RingSnapshot | undefined {
    const k = this.#cache.ticketKey();
    return k ? { generation: k.generation, current: k.key } : undefined;
  }

  install(ring: RingSnapshot): void {
    const k = this.#cache.ticketKey();
    try {
      if (k && k.key.equals(ring.current)) return;
      // A new generation in the segment: every worker re-applies it on its next connection.
      this.#cache.setTicketKey(ring.current);
    } finally {
      k?.key.fill(0);
    }
  }
}

interface RingDocument {
  v: 1;
  generation: number;
  fence: number;
  rotatedAtMs: number;
  nextSinceMs: number | null;
  current: string;
  previous: string | null;
  next: string | null;
}

const WRITE_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if last > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'k', 'ring', 'g', ARGV[5])
return 1`;

export interface DistributedRingOptions {
  prefix: string;
  streamKey: string;
  maxLength: number;
  /** ms between rotations; the ring is shared but never rotated when null. */
  rotateMs: number | null;
  pollIntervalMs: number;
  hostId: string;
}

/** What a sync did, for the stats. */
export interface RingState {
  source: 'redis' | 'local' | 'none';
  generation: number;
  reseeded: number;
  rotations: number;
  /** Documents that could not be opened (wrong secret, forged). */
  refused: number;
}

export class DistributedKeyRing {
  readonly #local: LocalKeyRing;
  readonly #keys: SealKey[];
  readonly #o: DistributedRingOptions;
  readonly #aad: Buffer;
  readonly state: RingState = { source: 'local', generation: 0, reseeded: 0, rotations: 0, refused: 0 };

  constructor(local: LocalKeyRing, keys: SealKey[], options: DistributedRingOptions) {
    this.#local = local;
    this.#keys = keys;
    this.#o = options;
    this.#aad = Buffer.from(`ring\0${options.prefix}`);
  }

  get kind(): string {
    return this.#local.kind;
  }

  /** Lead time of a "next" key before it seals anything. */
  get leadMs(): number {
    return 3 * this.#o.pollIntervalMs;
  }

  #key(name: string): string {
    return `${this.#o.prefix}:ring${name}`;
  }

  /**
   * Reads the ring from Redis and installs it locally; re-seeds an empty Redis
   * from the local ring; rotates when due (one host, under the lock).
   */
  async sync(redis: RedisConnection, now = Date.now()): Promise<void> {
    const raw = (await redis.sendCommand(['GET', this.#key('')])) as Buffer | string | null;
    if (raw === null || raw === undefined) {
      await this.#reseed(redis, now);
      return;
    }
    const doc = this.#open(Buffer.from(raw as Buffer));
    if (!doc) {
      this.state.refused++;
      return;
    }
    this.#installDoc(doc);
    if (this.#o.rotateMs === null) return;
    if (doc.next === null && now - doc.rotatedAtMs >= this.#o.rotateMs - this.leadMs) {
      await this.#write(redis, { ...doc, next: fresh(), nextSinceMs: now });
    } else if (doc.next !== null && doc.nextSinceMs !== null && now - doc.nextSinceMs >= this.leadMs && now - doc.rotatedAtMs >= this.#o.rotateMs) {
      if (await this.#write(redis, this.#promoted(doc, now))) this.state.rotations++;
    }
  }

  /** Rotates now (rotateTicketKey()): publishes a next key, and promotes it once its lead time has passed. */
  async rotateNow(redis: RedisConnection): Promise<number> {
    const raw = (await redis.sendCommand(['GET', this.#key('')])) as Buffer | null;
    const doc = raw ? this.#open(Buffer.from(raw)) : undefined;
    if (!doc) return 0;
    // An operator who rotates because a key leaked wants it gone now: promote
    // at once (hosts that have not polled yet refuse tickets of the new key
    // for up to one poll interval, costing full handshakes, never errors).
    const next = doc.next ?? fresh();
    const promoted = this.#promoted({ ...doc, next }, Date.now());
    if (!(await this.#write(redis, promoted))) return 0;
    this.state.rotations++;
    this.#installDoc(promoted);
    return promoted.generation;
  }

  #promoted(doc: RingDocument, now: number): RingDocument {
    return { ...doc, generation: doc.generation + 1, rotatedAtMs: now, nextSinceMs: null, previous: doc.current, current: doc.next!, next: null };
  }

  #installDoc(doc: RingDocument): void {
    const snapshot: RingSnapshot = {
      generation: doc.generation,
      current: Buffer.from(doc.current, 'base64'),
      previous: doc.previous ? Buffer.from(doc.previous, 'base64') : undefined,
      next: doc.next ? Buffer.from(doc.next, 'base64') : undefined,
    };
    try {
      if (snapshot.current.length !== RING_KEY_BYTES) {
        this.state.refused++;
        return;
      }
      this.#local.install(snapshot);
      this.state.source = 'redis';
      this.state.generation = doc.generation;
    } finally {
      snapshot.current.fill(0);
      snapshot.previous?.fill(0);
      snapshot.next?.fill(0);
    }
  }

  async #reseed(redis: RedisConnection, now: number): Promise<void> {
    const local = this.#local.read();
    const doc: RingDocument = {
      v: 1,
      // Continue the numbering this host knew, so that generations never go back.
      generation: Math.max(1, this.state.generation),
      fence: 0,
      rotatedAtMs: now,
      nextSinceMs: null,
      current: local ? local.current.toString('base64') : fresh(),
      previous: local?.previous ? local.previous.toString('base64') : null,
      next: null,
    };
    local?.current.fill(0);
    if (await this.#write(redis, doc)) {
      if (this.state.source === 'redis' || this.state.generation > 0) this.state.reseeded++;
      this.#installDoc(doc);
    }
  }

  /** Writes under the lock with a fencing token; false if another host holds the lock. */
  async #write(redis: RedisConnection, doc: RingDocument): Promise<boolean> {
    const fence = Number(String(await redis.sendCommand(['INCR', this.#key(':fence')])));
    const token = `${this.#o.hostId}:${fence}`;
    const lockMs = String(Math.max(1000, 2 * this.#o.pollIntervalMs));
    const got = await redis.sendCommand(['SET', this.#key(':lock'), token, 'NX', 'PX', lockMs]);
    if (got === null || got === undefined) return false;
    try {
      const sealed = seal(this.#keys[0], Buffer.from(JSON.stringify({ ...doc, fence })), this.#aad);
      const written = await redis.sendCommand([
        'EVAL', WRITE_SCRIPT, '4',
        this.#key(':lock'), this.#key(''), this.#key(':fenced'), this.#o.streamKey,
        token, String(fence), sealed, String(this.#o.maxLength), String(doc.generation),
      ]);
      return Number(written) === 1;
    } finally {
      // Release only our own lock (a compare-and-delete in Redis).
      await redis
        .sendCommand(['EVAL', "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", '1', this.#key(':lock'), token])
        .catch(() => undefined);
    }
  }

  #open(sealed: Buffer): RingDocument | undefined {
    const plain = open(this.#keys, sealed, this.#aad);
    if (typeof plain === 'string') return undefined;
    try {
      const doc = JSON.parse(plain.toString('utf8')) as RingDocument;
      return doc && doc.v === 1 && typeof doc.current === 'string' ? doc : undefined;
    } catch {
      return undefined;
    } finally {
      plain.fill(0);
    }
  }
}

function fresh(): string {
  return crypto.randomBytes(RING_KEY_BYTES).toString('base64');
}
