/**
 * The fleet's ticket-key ring, kept in Redis, sealed, and copied into each
 * host's segment.
 *
 * The document (`<prefix>:ring`) is sealed with AES-256-GCM (seal.ts, purpose
 * 'ring') and holds up to three ticket keys (64-byte records: name, HMAC, AES):
 * - current: seals new tickets on every host;
 * - previous: still opens tickets sealed before the last rotation;
 * - next: published at least `leadMs` (three poll intervals) before it
 *   becomes current, decrypt-only, and promoted only once every live host has
 *   acknowledged holding it (`<prefix>:ring:hosts`, a hash of host -> which
 *   next it holds and when it said so), so that no host seals a ticket with a
 *   key another host cannot open yet.
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
 * The local side is an interface (LocalKeyRing): SegmentRing below copies
 * the fleet's ring into the segment's ring (src/tls/ticket-ring.ts), whose
 * servers seal with current, and open with next and previous too.
 */
import crypto from 'node:crypto';
import type { SharedCache } from '../core/shared-cache';
import { CURRENT, NEXT, PREVIOUS, RECORD_BYTES, RING_SLOTS } from '../tls/ticket-ring';
import { open, seal, SealKey } from './seal';
import type { RedisConnection } from './redis-client';

/** A ring as the hosts share it. Keys are opaque records of the local ring's size; secrets: wipe copies when done. */
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
  /** What the adapter holds: 'ring' (next, current, previous) or 'single-key'. */
  readonly kind: string;
  /** Bytes of one key record. */
  readonly keyBytes: number;
  /** The local ring, or undefined when it holds no key yet. */
  read(): RingSnapshot | undefined;
  /** Makes the local ring equal to `ring` (no-op when it already is). */
  install(ring: RingSnapshot): void;
}

/**
 * The segment's ring (src/tls/ticket-ring.ts): four 64-byte records (name 16,
 * HMAC 32, AES 16) by role, 0 next, 1 current, 2-3 previous, and a mask of
 * the filled slots. Installing writes all of them at once under the segment's
 * lock and bumps its generation: every server of the host re-reads it on its
 * next ticket.
 */
export class SegmentRing implements LocalKeyRing {
  readonly kind = 'ring';
  readonly keyBytes = RECORD_BYTES;
  readonly #cache: SharedCache;

  constructor(cache: SharedCache) {
    this.#cache = cache;
  }

  read(): RingSnapshot | undefined {
    const r = this.#cache.ticketRing();
    if (!r) return undefined;
    try {
      if ((r.present & (1 << CURRENT)) === 0) return undefined;
      const slot = (i: number) => ((r.present & (1 << i)) !== 0 ? Buffer.from(r.ring.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES)) : undefined);
      return { generation: r.generation, next: slot(NEXT), current: slot(CURRENT)!, previous: slot(PREVIOUS) };
    } finally {
      r.ring.fill(0);
    }
  }

  install(snapshot: RingSnapshot): void {
    const ring = Buffer.alloc(RING_SLOTS * RECORD_BYTES);
    let present = 0;
    const put = (slot: number, key: Buffer | undefined) => {
      if (!key || key.length !== RECORD_BYTES) return;
      key.copy(ring, slot * RECORD_BYTES);
      present |= 1 << slot;
    };
    put(NEXT, snapshot.next);
    put(CURRENT, snapshot.current);
    put(PREVIOUS, snapshot.previous);
    const existing = this.#cache.ticketRing();
    try {
      if (existing && existing.present === present && existing.ring.equals(ring)) return;
      this.#cache.setTicketRing(ring, present);
    } finally {
      ring.fill(0);
      existing?.ring.fill(0);
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
  /** Promotions of next put off because a live host had not acknowledged it yet. */
  promotionsDeferred: number;
}

export class DistributedKeyRing {
  readonly #local: LocalKeyRing;
  readonly #keys: SealKey[];
  readonly #o: DistributedRingOptions;
  readonly #aad: Buffer;
  readonly state: RingState = { source: 'local', generation: 0, reseeded: 0, rotations: 0, refused: 0, promotionsDeferred: 0 };

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
    if (!this.#installDoc(doc)) return;
    // Say which "next" this host now holds (or none), with the time: the
    // rotator promotes a next only once every live host has acknowledged it.
    const held = doc.next === null ? 'none' : fingerprint(doc.next);
    await redis.sendCommand(['HSET', this.#key(':hosts'), this.#o.hostId, `${held}:${now}`]);
    if (this.#o.rotateMs === null) return;
    if (doc.next === null && now - doc.rotatedAtMs >= this.#o.rotateMs - this.leadMs) {
      await this.#write(redis, { ...doc, next: this.#fresh(), nextSinceMs: now });
    } else if (doc.next !== null && doc.nextSinceMs !== null && now - doc.nextSinceMs >= this.leadMs && now - doc.rotatedAtMs >= this.#o.rotateMs) {
      if (!(await this.#everyHostHolds(redis, fingerprint(doc.next), now))) return;
      if (await this.#write(redis, this.#promoted(doc, now))) this.state.rotations++;
    }
  }

  /**
   * True when every host heard from within the last 3 poll intervals has
   * acknowledged holding this next key. Hosts silent for longer (gone, or cut
   * off from Redis) do not hold the fleet back; they catch up when they
   * return, and until then refuse tickets of the new key (a full handshake,
   * never an error). Entries silent for 20 poll intervals are removed.
   */
  async #everyHostHolds(redis: RedisConnection, next: string, now: number): Promise<boolean> {
    const reply = await redis.sendCommand(['HGETALL', this.#key(':hosts')]);
    const pairs: [string, string][] = [];
    if (Array.isArray(reply)) {
      for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
    } else if (reply instanceof Map) {
      for (const [k, v] of reply) pairs.push([String(k), String(v)]);
    } else if (reply && typeof reply === 'object') {
      for (const [k, v] of Object.entries(reply)) pairs.push([k, String(v)]);
    }
    let all = true;
    for (const [host, value] of pairs) {
      const at = value.lastIndexOf(':');
      const held = value.slice(0, at);
      const age = now - Number(value.slice(at + 1));
      if (age > 20 * this.#o.pollIntervalMs) {
        await redis.sendCommand(['HDEL', this.#key(':hosts'), host]);
      } else if (age <= 3 * this.#o.pollIntervalMs && held !== next) {
        all = false;
      }
    }
    if (!all) this.state.promotionsDeferred++;
    return all;
  }

  /** Rotates now (rotateTicketKey()): publishes a next key, and promotes it once its lead time has passed. */
  async rotateNow(redis: RedisConnection): Promise<number> {
    const raw = (await redis.sendCommand(['GET', this.#key('')])) as Buffer | null;
    const doc = raw ? this.#open(Buffer.from(raw)) : undefined;
    if (!doc) return 0;
    // An operator who rotates because a key leaked wants it gone now: promote
    // at once (hosts that have not polled yet refuse tickets of the new key
    // for up to one poll interval, costing full handshakes, never errors).
    const next = doc.next ?? this.#fresh();
    const promoted = this.#promoted({ ...doc, next }, Date.now());
    if (!(await this.#write(redis, promoted))) return 0;
    this.state.rotations++;
    this.#installDoc(promoted);
    return promoted.generation;
  }

  #fresh(): string {
    return crypto.randomBytes(this.#local.keyBytes).toString('base64');
  }

  #promoted(doc: RingDocument, now: number): RingDocument {
    return { ...doc, generation: doc.generation + 1, rotatedAtMs: now, nextSinceMs: null, previous: doc.current, current: doc.next!, next: null };
  }

  /** Installs the document's keys locally; false when they are not of the local ring's size. */
  #installDoc(doc: RingDocument): boolean {
    const snapshot: RingSnapshot = {
      generation: doc.generation,
      current: Buffer.from(doc.current, 'base64'),
      previous: doc.previous ? Buffer.from(doc.previous, 'base64') : undefined,
      next: doc.next ? Buffer.from(doc.next, 'base64') : undefined,
    };
    try {
      if (snapshot.current.length !== this.#local.keyBytes) {
        this.state.refused++;
        return false;
      }
      this.#local.install(snapshot);
      this.state.source = 'redis';
      this.state.generation = doc.generation;
      return true;
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
      current: local ? local.current.toString('base64') : this.#fresh(),
      previous: local?.previous ? local.previous.toString('base64') : null,
      next: null,
    };
    local?.current.fill(0);
    local?.previous?.fill(0);
    local?.next?.fill(0);
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



/** A short one-way name of a key, for acknowledgements (not the key: a hash of it). */
function fingerprint(keyBase64: string): string {
  return crypto.createHash('sha256').update('tls-shm-cache ring ack\0').update(keyBase64).digest('hex').slice(0, 16);
}
