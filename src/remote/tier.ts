/**
 * The cross-host tier of one host: run by the one process of the host that
 * maintains the segment (the cluster primary, or the lease holder when there
 * is no primary). Nothing here runs on a handshake.
 *
 *   outbox (segment) --drain every publishInterval--> seal --XADD MAXLEN ~--> stream
 *   stream --XREAD BLOCK from the last ID--> open --> cache.set(session key, der, remaining ttl)
 *   ring in Redis <--sync every pollInterval, or on a `ring` stream entry--> segment key
 *
 * Stream entry fields: k (kind: `s` session, `ring` ring changed), o (origin
 * host), p (publisher run), q (its sequence number), n (namespace), i (session
 * ID), e (expiry, ms since the epoch), t (publication time, ms), c (sealed
 * session). Only c is secret, and it is sealed with the namespace, ID, expiry
 * and origin as additional data.
 *
 * Faults stay here: Redis away at start or mid-run means one warning, local
 * service, reconnection with jittered backoff, a bounded backlog of sealed
 * sessions to publish, and a catch-up read on return. An entry that does not
 * open is dropped and counted by reason.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { SharedCache } from '../core/shared-cache';
import type { RemoteSection } from '../stats/document';
import type { RemoteStartContext, RemoteTierHandle } from '../tls/remote-hook';
import { DistributedKeyRing, SegmentRing } from './key-ring';
import type { ResolvedRemoteOptions } from './options';
import { closeConnection, createConnection, loadRedis, RedisConnection } from './redis-client';
import { parseSessionKey, sessionKey } from '../tls/session-key';
import { deriveKeys, open, seal, SealKey, sessionAad } from './seal';

/** Entries read per XREAD. */
const READ_COUNT = 512;
/** Longest a blocking read waits before looking around (close, reconnect). */
const BLOCK_MS = 1000;
/**
 * The outbox is drained at least this often whatever publishInterval says
 * (which only spaces the XADDs): it holds items / 16 records, at least 1024
 * (native/outbox.h), so drained every 50 ms it keeps up with 20,000 sets a
 * second at the least.
 */
const DRAIN_EVERY_MS = 50;
/** Outbox records drained per publish tick. */
const DRAIN_MAX = 16384;
/** Lags kept for the percentiles. */
const LAG_SAMPLES = 1024;

type Field = Buffer | string;

export class RemoteTier implements RemoteTierHandle {
  readonly contextSeed: string;
  readonly #cache: SharedCache;
  readonly #o: ResolvedRemoteOptions;
  readonly #ctx: RemoteStartContext;
  readonly #keys: SealKey[];
  readonly #hostId: string;
  readonly #run = crypto.randomBytes(4).toString('hex');
  readonly #streamKey: string;
  readonly #ring: DistributedKeyRing | undefined;
  readonly #redis: ReturnType<typeof loadRedis>;

  #writer: RedisConnection | undefined;
  #reader: RedisConnection | undefined;
  #publishTimer: NodeJS.Timeout | undefined;
  /** When #flush last started (publishInterval apart). */
  #lastFlush = 0;
  #ringTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #reading = false;
  #cursor: number | undefined;
  #seq = 0;
  #lastId = '0';
  /** Set when a connection (re)became ready: check whether the stream was reset before reading on. */
  #checkReset = true;
  /** Sealed sessions waiting for Redis, oldest first. */
  #backlog: { expiresAt: number; fields: Field[] }[] = [];
  #flushing = false;
  #syncing = false;
  #warned = false;
  /** Keys this process inserted from the stream (hex → expiry, for pruning): their outbox records are not published again. */
  readonly #applied = new Map<string, number>();
  /** Last sequence number seen per publisher run, for `missed`. */
  readonly #lastSeq = new Map<string, number>();
  readonly #lags: number[] = [];
  readonly #counts = {
    published: 0,
    applied: 0,
    skipped: 0,
    missed: 0,
    disconnects: 0,
    dropped: { malformed: 0, unknownSecret: 0, forged: 0, backlogFull: 0, outboxLost: 0 },
  };

  constructor(cache: SharedCache, o: ResolvedRemoteOptions, ctx: RemoteStartContext) {
    this.#redis = loadRedis(ctx.where);
    this.#cache = cache;
    this.#o = o;
    this.#ctx = ctx;
    this.#keys = deriveKeys(o.secrets, 'session');
    const created = cache.stats().createdAt;
    this.#hostId = o.hostId ?? crypto.createHash('sha256').update(`${os.hostname()}\0${created}`).digest('hex').slice(0, 16);
    this.#streamKey = `${o.prefix}:sessions`;
    // Every host that shares the ring computes the same, so that tickets (and
    // replicated sessions) resume on any of them.
    this.contextSeed = `remote:${o.ringPrefix}`;
    this.#ring =
      ctx.rotateMs === null
        ? undefined
        : new DistributedKeyRing(new SegmentRing(cache), deriveKeys(o.secrets, 'ring'), {
            prefix: o.ringPrefix,
            streamKey: this.#streamKey,
            maxLength: o.maxLength,
            rotateMs: ctx.rotateMs,
            pollIntervalMs: o.pollIntervalMs,
            hostId: this.#hostId,
          });
  }

  start(): this {
    this.#publishTimer = setInterval(() => this.#tick(), Math.min(this.#o.publishIntervalMs, DRAIN_EVERY_MS));
    this.#publishTimer.unref();
    this.#ringTimer = setInterval(() => void this.#syncRing(), this.#o.pollIntervalMs);
    this.#ringTimer.unref();
    this.#tick();
    return this;
  }

  stats(): RemoteSection {
    const lags = [...this.#lags].sort((a, b) => a - b);
    const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))];
    return {
      hostId: this.#hostId,
      connected: Boolean(this.#writer?.isReady && this.#reader?.isReady),
      lagMs: lags.length === 0 ? null : { p50: at(0.5), p99: at(0.99), max: lags[lags.length - 1] },
      published: this.#counts.published,
      applied: this.#counts.applied,
      skipped: this.#counts.skipped,
      dropped: { ...this.#counts.dropped },
      missed: this.#counts.missed,
      disconnects: this.#counts.disconnects,
      ring: {
        source: this.#ring ? this.#ring.state.source : 'none',
        generation: this.#ring ? this.#ring.state.generation : 0,
        kind: this.#ring ? this.#ring.kind : 'none',
        reseeded: this.#ring ? this.#ring.state.reseeded : 0,
        rotations: this.#ring ? this.#ring.state.rotations : 0,
        promotionsDeferred: this.#ring ? this.#ring.state.promotionsDeferred : 0,
      },
    };
  }

  async rotateNow(): Promise<number> {
    if (!this.#ring || !this.#writer?.isReady) return 0;
    return this.#ring.rotateNow(this.#writer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#publishTimer);
    clearInterval(this.#ringTimer);
    if (this.#writer?.isReady && this.#ctx.active()) {
      this.#drain();
      await this.#flush().catch(() => undefined);
    }
    this.#disconnect();
  }

  // --- connections -------------------------------------------------------

  #connect(): void {
    const make = (role: string) => {
      const c = createConnection(this.#redis, this.#o.url, this.#o.client, this.#o.sentinel);
      c.on('error', (error) => this.#onError(role, error as Error));
      c.on('ready', () => {
        this.#checkReset = true;
        if (role === 'writer') void this.#syncRing();
      });
      c.connect().catch((error: Error) => this.#onError(role, error));
      return c;
    };
    this.#writer = make('writer');
    this.#reader = make('reader');
    void this.#readLoop();
  }

  #disconnect(): void {
    if (this.#writer) closeConnection(this.#writer);
    if (this.#reader) closeConnection(this.#reader);
    this.#writer = this.#reader = undefined;
  }

  #onError(role: string, error: Error): void {
    this.#counts.disconnects++;
    // One warning per outage, not one per reconnection attempt.
    if (this.#warned || this.#closed) return;
    this.#warned = true;
    process.emitWarning(
      `tls-shm-cache: Redis at ${this.#o.url ? redact(this.#o.url) : `sentinel master '${String(this.#o.sentinel?.name)}'`} unreachable (${role}: ${error.message}); serving from the local cache and reconnecting`,
      'TlsShmCacheWarning',
    );
  }

  // --- publishing ----------------------------------------------------------

  #tick(): void {
    if (this.#closed) return;
    try {
      const active = this.#ctx.active();
      if (active && !this.#writer) this.#connect();
      if (!active) {
        // Another process of this host talks to Redis (masterless lease): stand by.
        if (this.#writer) this.#disconnect();
        this.#cursor = undefined;
        return;
      }
      this.#drain();
      const now = Date.now();
      if (now - this.#lastFlush >= this.#o.publishIntervalMs) {
        this.#lastFlush = now;
        void this.#flush();
      }
    } catch (error) {
      this.#onError('publisher', error as Error);
    }
  }

  #drain(): void {
    if (this.#cursor === undefined) this.#cursor = this.#cache.outboxHead();
    const now = Date.now();
    for (let round = 0; round < 4; round++) {
      const d = this.#cache.drainOutbox(this.#cursor, DRAIN_MAX);
      this.#cursor = d.cursor;
      this.#counts.dropped.outboxLost += d.lost;
      for (const [key, der, expiresAt] of d.items) {
        try {
          const hex = key.toString('hex');
          if (this.#applied.delete(hex)) continue; // our own insertion from the stream, not a new session
          const parsed = parseSessionKey(key);
          if (!parsed) continue; // not a TLS session key (session-key.ts)
          const { namespace, id } = parsed;
          const q = String(++this.#seq);
          const sealed = seal(this.#keys[0], der, sessionAad(namespace, id, expiresAt, this.#hostId));
          this.#backlog.push({ expiresAt, fields: ['k', 's', 'o', this.#hostId, 'p', this.#run, 'q', q, 'n', namespace, 'i', id, 'e', String(expiresAt), 't', String(now), 'c', sealed] });
        } finally {
          der.fill(0);
        }
      }
      if (d.items.length + d.stale < DRAIN_MAX) break;
    }
    const overflow = this.#backlog.length - this.#o.maxLength;
    if (overflow > 0) {
      this.#backlog.splice(0, overflow);
      this.#counts.dropped.backlogFull += overflow;
    }
    if (this.#applied.size > 4 * this.#cache.stats().items) {
      for (const [hex, expires] of this.#applied) if (expires <= now) this.#applied.delete(hex);
    }
  }

  async #flush(): Promise<void> {
    const w = this.#writer;
    if (this.#flushing || !w?.isReady || this.#backlog.length === 0) return;
    this.#flushing = true;
    try {
      while (this.#backlog.length > 0 && w.isReady) {
        const batch = this.#backlog.splice(0, 512);
        const now = Date.now();
        const live = batch.filter((b) => b.expiresAt > now);
        try {
          // Issued in one tick, node-redis pipelines them on the connection.
          await Promise.all(live.map((b) => w.sendCommand(['XADD', this.#streamKey, 'MAXLEN', '~', String(this.#o.maxLength), '*', ...b.fields])));
          this.#counts.published += live.length;
        } catch {
          // Redis went away mid-batch: put it back (a replay inserts the same session twice, harmlessly).
          this.#backlog.unshift(...live);
          break;
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  // --- reading -------------------------------------------------------------

  async #readLoop(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (!this.#closed && this.#reader) {
        const r = this.#reader;
        if (!r.isReady) {
          await sleep(50);
          continue;
        }
        try {
          if (this.#checkReset) await this.#detectReset(r);
          const reply = await r.sendCommand(['XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(BLOCK_MS), 'STREAMS', this.#streamKey, this.#lastId]);
          this.#warned = this.#warned && !(this.#writer?.isReady ?? false);
          for (const [id, fields] of xreadEntries(reply)) {
            this.#lastId = id;
            this.#apply(fields);
          }
        } catch {
          await sleep(100);
        }
      }
    } finally {
      this.#reading = false;
    }
  }

  /** A stream whose newest entry is older than our last ID was flushed or replaced: read it from the start. */
  async #detectReset(r: RedisConnection): Promise<void> {
    const last = rangeEntries(await r.sendCommand(['XREVRANGE', this.#streamKey, '+', '-', 'COUNT', '1']));
    this.#checkReset = false;
    if (last.length === 0 || compareIds(last[0][0], this.#lastId) < 0) this.#lastId = '0';
  }

  #apply(fields: Map<string, Buffer>): void {
    const kind = fields.get('k')?.toString();
    if (kind === 'ring') {
      void this.#syncRing();
      return;
    }
    const origin = fields.get('o')?.toString();
    const run = fields.get('p')?.toString();
    const q = Number(fields.get('q')?.toString());
    const namespace = fields.get('n')?.toString('utf8');
    const id = fields.get('i');
    const expiresAt = Number(fields.get('e')?.toString());
    const published = Number(fields.get('t')?.toString());
    const sealed = fields.get('c');
    if (kind !== 's' || !origin || !run || !namespace || !id || !sealed || !Number.isSafeInteger(expiresAt) || !Number.isSafeInteger(q)) {
      this.#counts.dropped.malformed++;
      return;
    }
    if (origin === this.#hostId) return; // our own
    const runKey = `${origin}:${run}`;
    const before = this.#lastSeq.get(runKey);
    if (before !== undefined && q > before + 1) this.#counts.missed += q - before - 1;
    if (before === undefined || q > before) this.#lastSeq.set(runKey, q);
    const now = Date.now();
    if (expiresAt <= now) {
      this.#counts.skipped++;
      return;
    }
    const der = open(this.#keys, sealed, sessionAad(namespace, id, expiresAt, origin));
    if (typeof der === 'string') {
      this.#counts.dropped[der]++;
      return;
    }
    try {
      const key = sessionKey(namespace, id);
      if (!key) {
        this.#counts.dropped.malformed++;
        return;
      }
      const ttlSeconds = Math.min((expiresAt - now) / 1000, this.#ctx.timeoutMs / 1000);
      if (ttlSeconds < 0.001) {
        this.#counts.skipped++;
        return;
      }
      // The insertion lands in the outbox like a worker's: remember the key so
      // that #drain does not publish it as a session of this host. (Session IDs
      // are random 32 bytes: a worker never makes the same one.)
      this.#applied.set(key.toString('hex'), expiresAt);
      if (this.#cache.set(key, der, ttlSeconds)) {
        this.#counts.applied++;
        if (Number.isFinite(published)) this.#lag(now - published);
      }
    } finally {
      der.fill(0);
    }
  }

  #lag(ms: number): void {
    if (this.#lags.length >= LAG_SAMPLES) this.#lags.shift();
    this.#lags.push(Math.max(0, ms));
  }

  // --- ring --------------------------------------------------------------

  async #syncRing(): Promise<void> {
    const w = this.#writer;
    if (!this.#ring || this.#syncing || this.#closed || !w?.isReady || !this.#ctx.active()) return;
    this.#syncing = true;
    try {
      await this.#ring.sync(w);
    } catch {
      // Redis went away during the sync: the next poll tries again.
    } finally {
      this.#syncing = false;
    }
  }
}

/** The entries of an XREAD reply: RESP2 `[[stream, entries]]`, RESP3 a map of stream to entries. */
function xreadEntries(reply: unknown): [string, Map<string, Buffer>][] {
  if (reply === null || reply === undefined) return [];
  const perStream: unknown[] = Array.isArray(reply)
    ? reply.map((s) => (Array.isArray(s) ? s[1] : []))
    : reply instanceof Map
      ? [...reply.values()]
      : Object.values(reply as Record<string, unknown>);
  return perStream.flatMap((entries) => rangeEntries(entries));
}

/** The entries of an XRANGE / XREVRANGE reply: `[[id, [field, value, …]], …]`. */
function rangeEntries(reply: unknown): [string, Map<string, Buffer>][] {
  if (!Array.isArray(reply)) return [];
  const out: [string, Map<string, Buffer>][] = [];
  for (const e of reply) {
    if (!Array.isArray(e) || e.length < 2 || !Array.isArray(e[1])) continue;
    const fields = new Map<string, Buffer>();
    const list = e[1] as (Buffer | string)[];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const v = list[i + 1];
      fields.set(String(list[i]), Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
    }
    out.push([String(e[0]), fields]);
  }
  return out;
}

function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//…@');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
