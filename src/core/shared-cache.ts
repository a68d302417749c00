/**
 * SharedCache: a fixed-size key/value table in shared memory with expiry,
 * usable synchronously from every process that opens it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';
import { blockPayload, itemBlocks } from './blocks';
import { fromNative, TlsShmCacheError } from './errors';
import { inProcessBinding, isInProcessHandle } from './in-process';
import { loadNative, NativeBinding, NativeCache, NativeOutboxDrain, NativeStats, SetStatus } from './native';
import {
  handshakeCounter,
  HandshakeOutcome,
  NativeCounter,
  OTHER_VERSION_HANDSHAKES,
  OUTCOMES,
  TICKET_KEY_APPLIED,
  TICKET_RENEWED,
  TICKET_RING_INSTALLED,
  TICKET_SINGLE_KEY_INSTALLED,
  TICKET_UNKNOWN_KEY,
  TLS13_SESSIONS_SKIPPED,
  TLS_VERSIONS,
  TlsVersion,
} from './counters';
import { checkBytes, checkInteger, checkNumber, checkOptions, checkString, rangeError, typeError, valueError } from './validate';

/** How the attached servers use the ticket key ring (see CacheStats.ticketKey). */
export type TicketMode = 'ring' | 'single-key' | 'none';

/** Geometry of a new cache. */
export interface SharedCacheOptions {
  /**
   * Number of slots: the most items the cache holds at once. uWSGI: `cache2 items=`.
   * Required unless `memory` is given.
   */
  items?: number;
  /**
   * The allocation granule in bytes (default 96): an item (its key, padded to whole
   * 8-byte words, then its value) takes ceil(bytes / blocksize) blocks, chained. It does not
   * bound the value size (that is `maxValueBytes`). uWSGI: `blocksize=`.
   */
  blocksize?: number;
  /**
   * Number of blocks (default: room for `items` items of the typical TLS mix,
   * {@link DEFAULT_MEAN_ITEM_BYTES} bytes of key and value on average, and at least one item of
   * `maxKeyLength` + `maxValueBytes`; with `memory`, all the memory the slots leave). uWSGI: `blocks=`.
   */
  blocks?: number;
  /** Longest value in bytes (default 10 KiB, Node's own session limit). Longer values are refused and counted as `tooLarge`. */
  maxValueBytes?: number;
  /**
   * A memory budget in bytes, the way nginx sizes `ssl_session_cache shared:name:size`: when
   * given without `items`, `items` is as many typical sessions ({@link TYPICAL_ITEM_BYTES}) as
   * fit, and `blocks` takes all the rest, so a population of larger sessions fills the blocks
   * before it runs out of slots. The whole segment stays within it.
   */
  memory?: number;
  /** Seconds an item lives when `set` is given no TTL. nginx: `ssl_session_timeout`. */
  timeout: number;
  /**
   * Longest key in bytes (default 64). Longer keys are refused and counted as `tooLarge`. Keys
   * are stored in the blocks with their value, so this costs no memory per slot.
   */
  maxKeyLength?: number;
  /**
   * Where a cache without `path` lives. `'memfd'` (the default): an unnamed
   * segment that other processes open through this process's
   * `/proc/PID/fd/N` entry; it disappears with the last process that maps it,
   * however they all die (SIGKILL included), so nothing is ever left in
   * /dev/shm. Falls back to `'shm'` where memfd_create or /proc is not
   * available. `'shm'`: a named POSIX shared-memory entry in /dev/shm, removed
   * when this process closes it or exits normally (a stale entry left by a
   * killed creator is removed by the next create).
   */
  backing?: 'memfd' | 'shm';
  /**
   * Back the cache with this file instead of anonymous POSIX shared memory: for
   * processes that share no parent, and for a cache that survives restarts. If
   * the file exists it is opened (its geometry must match, else
   * ERR_TLS_SHM_GEOMETRY; the TLS layer replaces or adapts instead, README
   * "Changing items or blocksize"); it is never deleted by the library.
   */
  path?: string;
}

/** A snapshot of the cache's counters, summed over every attached process. */
export interface CacheStats {
  /** Slots in the segment. */
  items: number;
  /** The allocation granule in bytes. */
  blocksize: number;
  /** Value blocks in the segment. */
  blocks: number;
  /** Blocks holding values now. */
  blocksUsed: number;
  /** Blocks free now. */
  blocksFree: number;
  /** Sum of the lengths of the values held now, in bytes. */
  bytesStored: number;
  /** Longest value accepted, in bytes. */
  maxValueBytes: number;
  /** Longest key in bytes. */
  maxKeyLength: number;
  /** Default time to live, in seconds. */
  timeout: number;
  /** Size of the whole mapping in bytes. */
  memoryBytes: number;
  /** Slots holding an item (expired items count until swept or evicted). */
  used: number;
  /** Live processes attached to the segment. */
  attached: number;
  /** When the segment was created (ms since the epoch). */
  createdAt: number;
  hits: number;
  misses: number;
  sets: number;
  replaced: number;
  deletes: number;
  /** Live items dropped to make room for new ones (the table was full). */
  evictions: number;
  /** Expired items found by a read, the sweeper or eviction. */
  expired: number;
  /** Keys or values refused because they were too long. */
  tooLarge: number;
  /** Lock time-outs and other failed writes. */
  errors: number;
  sweepRuns: number;
  /** Total time spent sweeping, in seconds. */
  sweepSeconds: number;
  /** Times a process found the write lock held by a dead process and repaired the table. */
  recoveries: number;
  /**
   * The cluster's ring of session-ticket keys, never the keys themselves:
   * its generation (0 = none; +1 per rotation or key file load), age in
   * seconds, how many keys it holds (next, current, previous), how often a
   * server applied it, and how servers use it: `ring` (the ticket key
   * callback: every key of the ring decrypts), `single-key` (a runtime
   * without the callback: one key through setTicketKeys, so a rotation costs
   * every outstanding ticket a full handshake), or `none` (no server attached
   * with shared tickets yet). `single-key` wins when both were seen.
   */
  ticketKey: {
    generation: number;
    ageSeconds: number | null;
    applied: number;
    keys: number;
    mode: TicketMode;
    /** Tickets decrypted and renewed (a fresh ticket issued). */
    renewed: number;
    /** Tickets under a key no longer (or never) in the ring: full handshakes. */
    unknownKey: number;
  };
  /** Pid of the process that sweeps and rotates when there is no primary (0 = none). */
  maintainerPid: number;
  /** Handshakes by TLS version and outcome, counted by attachSharedCache. */
  handshakes: Record<TlsVersion, Record<HandshakeOutcome, number>>;
  /** TLS 1.3 sessions not stored because no store can resume them (see the README). */
  tls13SessionsSkipped: number;
  /** Handshakes whose protocol is none of the versions in `handshakes` (expected to stay 0). */
  otherVersionHandshakes: number;
}

const CREATE_OPTIONS = ['items', 'blocksize', 'blocks', 'maxValueBytes', 'memory', 'timeout', 'maxKeyLength', 'backing', 'path'] as const;

/** Upper bounds, mirrored by native/layout.h. */
export const LIMITS = {
  items: 1 << 24,
  minBlocksize: 16,
  blocksize: 1 << 20,
  blocks: 1 << 28,
  maxValueBytes: 1 << 20,
  maxKeyLength: 1024,
  /** Seconds: TTLs are stored in milliseconds in 32 bits. */
  timeout: Math.floor(0xffffffff / 1000),
  segmentBytes: 16 * 2 ** 30,
} as const;

const DEFAULT_MAX_KEY_LENGTH = 64;
/**
 * The default granule: a typical TLS 1.2 session (160 bytes) under its 32-byte session ID
 * takes exactly 2 blocks. With 64 it would take 3 and pay a 4-byte link more per session.
 */
export const DEFAULT_BLOCKSIZE = 96;
/** The default longest value: Node's own limit for a session (10 KiB). */
export const DEFAULT_MAX_VALUE_BYTES = 10 * 1024;
/** Key and value of a typical session: a 32-byte session ID and a 160-byte TLS 1.2 session. */
export const TYPICAL_ITEM_BYTES = 192;
/**
 * Average bytes of key and value the default `blocks` is sized for: the typical TLS mix of
 * 90 % typical sessions (2 blocks of 96) and 10 % client-certificate sessions of 1.1-4 KB
 * (27 blocks on average), rounded up.
 */
export const DEFAULT_MEAN_ITEM_BYTES = 448;
/** sizeof(Header) in native/layout.h (the addon exports it as headerBytes; a test compares). */
export const HEADER_BYTES = 704;
/** Values returned by get() are carved out of slabs of this size (Node's own pool is 8 KiB). */
const SLAB_BYTES = 64 * 1024;

/** Caches open in this process, closed on exit so owners remove their segments. */
const openCaches = new Set<SharedCache>();
let exitHookInstalled = false;
function trackOpen(cache: SharedCache): void {
  openCaches.add(cache);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of openCaches) c.close();
    });
  }
}

/** The default number of blocks for `items` (see {@link SharedCacheOptions.blocks}). */
export function defaultBlocks(
  items: number,
  blocksize = DEFAULT_BLOCKSIZE,
  maxValueBytes = DEFAULT_MAX_VALUE_BYTES,
  maxKeyLength = DEFAULT_MAX_KEY_LENGTH,
): number {
  return Math.max(Math.ceil((items * DEFAULT_MEAN_ITEM_BYTES) / blockPayload(blocksize)), itemBlocks(maxKeyLength, maxValueBytes, blocksize));
}

/**
 * Bytes a cache of this geometry maps; the same arithmetic as ComputeLayout in
 * native/segment.cc. `blocks` defaults as in {@link SharedCache.create} given
 * `items` (not `memory`), which is where `maxKeyLength` and `maxValueBytes`
 * count: keys live in the blocks, not in the slots.
 */
export function segmentBytes(
  items: number,
  blocksize = DEFAULT_BLOCKSIZE,
  maxKeyLength = DEFAULT_MAX_KEY_LENGTH,
  blocks?: number,
  maxValueBytes = DEFAULT_MAX_VALUE_BYTES,
): number {
  blocks ??= defaultBlocks(items, blocksize, maxValueBytes, maxKeyLength);
  const align = (v: number, a: number) => Math.ceil(v / a) * a;
  // sizeof(Header) is 704 (a multiple of 64; the robust mutex is 40 bytes on
  // glibc and musl; the ticket ring takes 320), then kStripes × sizeof(Stripe) = 128 × 448 bytes,
  // then one 4-byte bucket per slot.
  const metaOffset = align(HEADER_BYTES + 128 * 448 + 4 * items, 64);
  // sizeof(SlotMeta) is 32.
  const linksOffset = align(metaOffset + items * 32, 64);
  const blocksOffset = align(linksOffset + 4 * blocks, 64);
  // The outbox (native/outbox.h): a 64-byte head and OutboxEntries(items) 8-byte records
  // (items / 16 as a power of two from 1024 to 16384), in whole pages.
  let outboxEntries = 1024;
  while (outboxEntries < 16384 && outboxEntries < Math.floor(items / 16)) outboxEntries *= 2;
  const outboxBytes = align(64 + 8 * outboxEntries, 4096);
  return align(blocksOffset + blocks * blockPayload(blocksize), 4096) + outboxBytes;
}

/** The largest n in 1..max with fits(n), for a monotonic fits (fits(1) is checked by the caller). */
function largest(max: number, fits: (n: number) => boolean): number {
  let lo = 1;
  let hi = max;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The geometry `create` derives from its options (validated). */
interface Geometry {
  items: number;
  blocksize: number;
  blocks: number;
  maxValueBytes: number;
  maxKeyLength: number;
}

/**
 * @internal The geometry `create` derives from its options (validated): the
 * TLS layer resolves `memory` with it too.
 */
export function deriveGeometry(o: Partial<SharedCacheOptions>): Geometry {
  if (o.items !== undefined && o.memory !== undefined) throw typeError('give items or memory, not both (memory derives items)');
  const blocksize = checkInteger(o.blocksize, 'blocksize', LIMITS.minBlocksize, LIMITS.blocksize, DEFAULT_BLOCKSIZE);
  const maxValueBytes = checkInteger(o.maxValueBytes, 'maxValueBytes', 1, LIMITS.maxValueBytes, DEFAULT_MAX_VALUE_BYTES);
  const maxKeyLength = checkInteger(o.maxKeyLength, 'maxKeyLength', 1, LIMITS.maxKeyLength, DEFAULT_MAX_KEY_LENGTH);
  const givenBlocks = o.blocks === undefined ? undefined : checkInteger(o.blocks, 'blocks', 1, LIMITS.blocks);
  // The fewest blocks that hold one item of the longest key and value (native/segment.cc).
  const fewest = itemBlocks(maxKeyLength, maxValueBytes, blocksize);
  let items: number;
  let blocks: number;
  if (o.memory !== undefined) {
    // As many slots as typical sessions fit, then every block the rest holds:
    // typical sessions fill the slots, larger ones the blocks, and a slot
    // costs 36 bytes against 200 for the blocks of a typical session.
    const memory = checkInteger(o.memory, 'memory', 1, LIMITS.segmentBytes);
    const typical = Math.ceil(TYPICAL_ITEM_BYTES / blockPayload(blocksize));
    const blocksFor = (n: number) => givenBlocks ?? Math.max(n * typical, fewest);
    const fits = (n: number) => segmentBytes(n, blocksize, maxKeyLength, blocksFor(n)) <= memory;
    if (!fits(1)) throw rangeError(`memory: ${memory} bytes cannot hold one item of maxKeyLength + maxValueBytes`);
    items = largest(LIMITS.items, fits);
    blocks = givenBlocks ?? largest(LIMITS.blocks, (b) => b <= blocksFor(items) || segmentBytes(items, blocksize, maxKeyLength, b) <= memory);
  } else {
    // Without `memory`, `items` is required: checkInteger names it.
    items = checkInteger(o.items, 'items', 1, LIMITS.items);
    blocks = givenBlocks ?? defaultBlocks(items, blocksize, maxValueBytes, maxKeyLength);
  }
  if (blocks < fewest) {
    throw rangeError(
      `blocks × blocksize (${blocks} × ${blocksize}) must hold one item of maxKeyLength + maxValueBytes ` +
        `(${maxKeyLength} + ${maxValueBytes} bytes: at least ${fewest} blocks)`,
    );
  }
  return { items, blocksize, blocks, maxValueBytes, maxKeyLength };
}

/**
 * An unnamed segment, or undefined where the system has no memfd_create (or
 * seccomp forbids it): the caller then makes a named one.
 */
function createMemfd(native: NativeBinding, g: CreateGeometry): { cache: NativeCache; created: boolean } | undefined {
  try {
    return { cache: native.createMemfd(g.items, g.blocksize, g.blocks, g.maxValueBytes, g.maxKeyLength, g.timeout), created: true };
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_TLS_SHM_SYSTEM') return undefined;
    throw error;
  }
}

export class SharedCache {
  readonly #native: NativeCache;
  readonly #handle: string;
  readonly #created: boolean;
  /** The geometry as the native side validated it at open, read once. */
  readonly #geometry: NativeStats;
  #slab: Buffer = Buffer.alloc(0);
  #slabOffset = 0;
  #closed = false;

  private constructor(native: NativeCache, created: boolean, handle?: string) {
    this.#native = native;
    this.#geometry = native.stats();
    this.#handle = handle ?? this.#geometry.handle;
    this.#created = created;
    trackOpen(this);
  }

  /**
   * Creates a cache in new shared memory (mode 0600; by default an unnamed
   * memfd segment that is gone with the last process mapping it, see
   * `backing`), or opens-or-creates the file at `options.path`.
   */
  static create(options: SharedCacheOptions): SharedCache {
    const g = checkCreateOptions(options, 'SharedCache.create');
    const made = createNative(loadNative(), g);
    const cache = new SharedCache(made.cache, made.created);
    if (!made.created) {
      const difference = geometryDifference(cache.#geometry, g);
      if (difference) {
        cache.close();
        throw new TlsShmCacheError(
          'ERR_TLS_SHM_GEOMETRY',
          `${g.path} holds a cache of ${difference}. ` +
            'Use the same geometry, or remove the file while no process uses it.',
        );
      }
    }
    return cache;
  }

  /**
   * @internal Opens-or-creates the file at `options.path` like
   * {@link SharedCache.create}, but a file of another geometry, or of another
   * layout version or C library build (ERR_TLS_SHM_VERSION), never fails:
   * if no process has it attached it is replaced by a new file of the
   * geometry asked for (`replaced` names the old geometry, or
   * `replacedIncompatible` says how the old file was incompatible); if
   * processes still use it, a file of another geometry is opened with its own
   * geometry (`kept` names the difference), and a file this build cannot read
   * is left to them: `cache` is then a new private cache (memfd or shm, per
   * `backing`) shared with nobody but this process's own children, and
   * `unshared` says why. For masterless processes, where a changed option or
   * an upgrade must not crash-loop a service (README "Changing items or
   * blocksize").
   */
  static openFileAdapting(options: SharedCacheOptions & { path: string }): {
    cache: SharedCache;
    replaced?: string;
    replacedIncompatible?: string;
    kept?: string;
    unshared?: string;
  } {
    const g = checkCreateOptions(options, 'SharedCache.create');
    const file = g.path!;
    const native = loadNative();
    // Set once replaceUnusedFile found a file we cannot read in use: if it still
    // is one on the next open, its users are processes of the other build.
    let incompatibleInUse = false;
    for (let attempt = 0; ; attempt++) {
      let incompatible: string | undefined;
      let difference: string | undefined;
      let made: { cache: NativeCache; created: boolean } | undefined;
      try {
        made = createNative(native, g);
      } catch (error) {
        // Another layout version or lock ABI (native/segment.cc Validate). Any
        // other refusal (not a cache, corrupt, permissions) stays an error:
        // such a file may not be ours to replace.
        if (!(error instanceof TlsShmCacheError) || error.code !== 'ERR_TLS_SHM_VERSION') throw error;
        incompatible = describeIncompatible(error.message, file);
      }
      if (made) {
        const cache = new SharedCache(made.cache, made.created);
        difference = made.created ? undefined : geometryDifference(cache.#geometry, g);
        if (!difference) return { cache };
        if (attempt === 3 || !native.replaceUnusedFile) return { cache, kept: difference };
        // Not attached by us while we ask whether anyone else is.
        cache.close();
      } else if (incompatibleInUse || attempt === 3 || !native.replaceUnusedFile) {
        return { cache: SharedCache.#createPrivate(native, g), unshared: incompatible };
      }
      // A name RemoveStaleTempFiles (native/segment.cc) cleans if we die before the rename.
      const temp = `${file}.${process.pid}.${crypto.randomBytes(8).toString('hex')}.tmp`;
      const fresh = createNative(native, { ...g, path: temp });
      let result: number;
      try {
        // It reads nothing of the file but its locks (the attach gate and
        // byte, the same in every layout version): a file this build cannot
        // validate is judged "in use" the same way.
        result = native.replaceUnusedFile!(file, temp);
      } catch (error) {
        fresh.cache.close();
        fs.rmSync(temp, { force: true });
        throw fromNative(error);
      }
      if (result === 0) {
        const cache = new SharedCache(fresh.cache, true, `file:${file}`);
        return incompatible === undefined ? { cache, replaced: difference } : { cache, replacedIncompatible: incompatible };
      }
      fresh.cache.close();
      fs.rmSync(temp, { force: true });
      // 1: in use, open what is there (it may have been replaced by another
      // process of the new generation meanwhile: then it opens); 2: replaced
      // already, reopen.
      if (result === 1 && incompatible !== undefined) incompatibleInUse = true;
    }
  }

  /** A new cache in this process's own shared memory (never a file): the fallback of openFileAdapting. */
  static #createPrivate(native: NativeBinding, g: CreateGeometry): SharedCache {
    const made = createNative(native, { ...g, path: undefined });
    return new SharedCache(made.cache, true);
  }

  /**
   * @internal A cache of the same interface kept in this process's memory
   * (src/core/in-process.ts): for platforms without the native core. Not
   * shareable; `handle` is `inprocess:…`, which no process can open.
   */
  static createInProcess(options: SharedCacheOptions): SharedCache {
    const g = checkCreateOptions(options, 'SharedCache.create');
    const made = createNative(inProcessBinding, { ...g, path: undefined });
    return new SharedCache(made.cache, true);
  }

  /** True when this cache lives in this process's memory (no native core here), not in shared memory. */
  get inProcess(): boolean {
    return isInProcessHandle(this.#handle);
  }

  /** Opens the cache another process created, from its {@link SharedCache.handle}. */
  static open(handle: string): SharedCache {
    checkString(handle, 'handle');
    if (!handle.startsWith('shm:') && !handle.startsWith('file:') && !handle.startsWith('memfd:')) {
      throw valueError(`handle must start with 'shm:', 'memfd:' or 'file:', got '${handle.slice(0, 40)}'`);
    }
    const native = loadNative();
    let cache: NativeCache;
    try {
      cache = native.open(handle);
    } catch (error) {
      throw fromNative(error);
    }
    return new SharedCache(cache, false, handle);
  }

  /** The string another process passes to {@link SharedCache.open}: `shm:/name`, `memfd:/proc/PID/fd/N` or `file:/path`. */
  get handle(): string {
    return this.#handle;
  }

  /** True if this call created the segment (false when it opened an existing file). */
  get created(): boolean {
    return this.#created;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The value stored under `key`, or `undefined` if there is none or it expired. Returns a copy. */
  get(key: Uint8Array): Buffer | undefined {
    this.#checkOpen();
    checkBytes(key, 'key');
    // Values are copied into a private slab and handed out as views of it, the
    // way Buffer.allocUnsafe uses its pool: one N-API call per lookup and no
    // allocation but the view (a Buffer made by the addon costs ~5x the lookup).
    if (this.#slab.length - this.#slabOffset < this.#geometry.maxValueBytes) this.#newSlab();
    const length = this.#native.getInto(key, this.#slabOffset);
    if (length < 0) return undefined;
    const value = this.#slab.subarray(this.#slabOffset, this.#slabOffset + length);
    this.#slabOffset += (length + 7) & ~7;
    return value;
  }

  #newSlab(): void {
    this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, this.#geometry.maxValueBytes * 4));
    // Values handed out share the slab: transferring one value's ArrayBuffer
    // (postMessage, structuredClone) would empty all the others, as it would
    // for Node's own Buffer pool, which Node marks the same way.
    markAsUntransferable(this.#slab.buffer);
    this.#slabOffset = 0;
    this.#native.setSlab(this.#slab);
  }

  /**
   * Stores `value` under `key` for `ttlSeconds` (default: the cache's timeout),
   * replacing any earlier value; when the table is full the item closest to
   * expiry is evicted. Returns false, and counts it, when the key or value is
   * too long (nothing is truncated) or the write lock could not be had.
   */
  set(key: Uint8Array, value: Uint8Array, ttlSeconds?: number): boolean {
    this.#checkOpen();
    checkBytes(key, 'key');
    checkBytes(value, 'value');
    if (key.length === 0) throw rangeError('key must not be empty');
    const ttl = ttlSeconds === undefined ? this.#geometry.timeout : checkNumber(ttlSeconds, 'ttlSeconds', 0.001, LIMITS.timeout);
    const status = this.#native.set(key, value, Math.ceil(ttl * 1000));
    return status === SetStatus.Inserted || status === SetStatus.Replaced;
  }

  /** Removes `key`; true if it was there. */
  delete(key: Uint8Array): boolean {
    this.#checkOpen();
    return this.#native.delete(checkBytes(key, 'key'));
  }

  /** Frees every expired slot, a slice at a time; returns how many were freed. */
  sweep(): number {
    this.#checkOpen();
    return this.#native.sweep();
  }

  /** Counters summed over every attached process, and the geometry. */
  stats(): CacheStats {
    this.#checkOpen();
    return toStats(this.#native.stats());
  }

  /**
   * Unmaps the cache. The process that created a shared-memory cache also
   * removes it (processes that have it open keep using it until they close).
   * Calling close twice is harmless.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openCaches.delete(this);
    this.#native.close();
  }

  /** @internal The TLS layer's counters (see counters.ts). */
  count(counter: number, n = 1): void {
    if (!this.#closed) this.#native.count(counter, n);
  }

  /**
   * @internal The outbox (native/outbox.h): every set() records its slot in a
   * ring at the end of the segment; one process (the cross-host publisher)
   * drains it. outboxHead() is where a new drainer starts.
   */
  outboxHead(): number {
    this.#checkOpen();
    return this.#native.outboxHead();
  }

  /**
   * @internal Copies out the items stored since `cursor` (at most `maxItems`):
   * key, value (a secret: wipe it when done) and expiry in ms since the epoch.
   * `lost`: records overwritten before this drain; `stale`: items replaced,
   * evicted or expired since they were stored.
   */
  drainOutbox(cursor: number, maxItems: number): NativeOutboxDrain {
    this.#checkOpen();
    return this.#native.drainOutbox(cursor, maxItems);
  }

  /**
   * @internal The ticket key ring (secret): 256 bytes of 4 records (name 16,
   * HMAC 32, AES 16) by role (0 next, 1 current, 2-3 previous), the mask of
   * filled slots and its generation; undefined before the first rotation or
   * while a writer is mid-update.
   */
  ticketRing(): { generation: number; setAtMs: number; present: number; ring: Buffer } | undefined {
    this.#checkOpen();
    return this.#native.ticketRing();
  }

  /** @internal Cheap check (one atomic load): the generation of the ticket key ring (0 = none). */
  ticketKeyGeneration(): number {
    this.#checkOpen();
    return this.#native.ticketGeneration();
  }

  /** @internal Replaces the ring (operator-supplied keys); returns its generation, 0 if the lock failed. */
  setTicketRing(ring: Uint8Array, present: number): number {
    this.#checkOpen();
    if (checkBytes(ring, 'ring').length !== 256) throw rangeError('a ticket key ring is 256 bytes');
    return this.#native.setTicketRing(ring, checkInteger(present, 'present', 0, 15));
  }

  /** @internal Rotates the ring with two fresh 64-byte records; returns its generation, 0 if the lock failed. */
  rotateTicketRing(fresh: Uint8Array): number {
    this.#checkOpen();
    if (checkBytes(fresh, 'fresh').length !== 128) throw rangeError('fresh ticket keys are 128 bytes');
    return this.#native.rotateTicketRing(fresh);
  }

  /** @internal Takes or renews the maintenance lease; it is taken over from a holder dead or silent for `staleMs`. */
  acquireLease(staleMs: number): boolean {
    this.#checkOpen();
    return this.#native.acquireLease(checkInteger(staleMs, 'staleMs', 0, 0xffffffff));
  }

  /** @internal */
  releaseLease(): void {
    if (!this.#closed) this.#native.releaseLease();
  }

  #checkOpen(): void {
    if (this.#closed) throw new TlsShmCacheError('ERR_TLS_SHM_CLOSED', 'the cache is closed');
  }
}

interface CreateGeometry {
  items: number;
  blocksize: number;
  blocks: number;
  maxValueBytes: number;
  timeout: number;
  maxKeyLength: number;
  /** Where a cache without a path lives (SharedCacheOptions.backing). */
  backing: 'memfd' | 'shm';
  path: string | undefined;
}

function checkCreateOptions(options: SharedCacheOptions, where: string): CreateGeometry {
  const o = checkOptions<SharedCacheOptions>(options, where, CREATE_OPTIONS);
  if (options === undefined) throw typeError(`${where}: options { items, blocksize, timeout } are required`);
  const { items, blocksize, blocks, maxValueBytes, maxKeyLength } = deriveGeometry(o);
  const timeout = checkInteger(o.timeout, 'timeout', 1, LIMITS.timeout);
  const file = o.path === undefined ? undefined : path.resolve(checkString(o.path, 'path'));
  const backing = o.backing === undefined ? 'memfd' : o.backing;
  if (backing !== 'memfd' && backing !== 'shm') {
    const message = `${where}: backing must be 'memfd' or 'shm', got `;
    throw typeof backing === 'string' ? valueError(`${message}'${backing}'`) : typeError(message + typeof backing);
  }
  const bytes = segmentBytes(items, blocksize, maxKeyLength, blocks);
  if (bytes > LIMITS.segmentBytes) {
    throw rangeError(
      `items and blocks × blocksize need ${(bytes / 2 ** 30).toFixed(1)} GiB; the limit is ${LIMITS.segmentBytes / 2 ** 30} GiB`,
    );
  }
  return { items, blocksize, blocks, maxValueBytes, timeout, maxKeyLength, backing, path: file };
}

function createNative(binding: NativeBinding, g: CreateGeometry): { cache: NativeCache; created: boolean } {
  try {
    return (
      (g.path === undefined && g.backing === 'memfd' && createMemfd(binding, g)) ||
      binding.create(g.items, g.blocksize, g.blocks, g.maxValueBytes, g.maxKeyLength, g.timeout, g.path)
    );
  } catch (error) {
    throw fromNative(error);
  }
}

/** "items=…, blocksize=…" of what the file holds versus what was asked, or undefined when they agree. */
function geometryDifference(found: NativeStats, asked: CreateGeometry): string | undefined {
  const names = ['items', 'blocksize', 'blocks', 'maxValueBytes', 'maxKeyLength'] as const;
  if (names.every((name) => found[name] === asked[name])) return undefined;
  const list = (g: Pick<NativeStats, (typeof names)[number]>) => names.map((name) => `${name}=${g[name]}`).join(', ');
  return `${list(found)}; asked for ${list(asked)}`;
}

/**
 * What ERR_TLS_SHM_VERSION said about `file`, without the path and the advice
 * meant for SharedCache.open: e.g. "has layout version 5 (header 704 bytes);
 * this build reads version 6 (704 bytes)".
 */
function describeIncompatible(message: string, file: string): string {
  const rest = message.startsWith(file) ? message.slice(file.length).trim() : message;
  const end = rest.indexOf('. ');
  return end < 0 ? rest : rest.slice(0, end);
}

function toStats(s: NativeStats): CacheStats {
  const c = s.counters;
  const handshakes = {} as Record<TlsVersion, Record<HandshakeOutcome, number>>;
  for (const version of TLS_VERSIONS) {
    const row = {} as Record<HandshakeOutcome, number>;
    for (const outcome of OUTCOMES) row[outcome] = c[handshakeCounter(version, outcome)];
    handshakes[version] = row;
  }
  return {
    items: s.items,
    blocksize: s.blocksize,
    blocks: s.blocks,
    blocksUsed: s.blocks - s.blocksFree,
    blocksFree: s.blocksFree,
    bytesStored: s.bytesStored,
    maxValueBytes: s.maxValueBytes,
    maxKeyLength: s.maxKeyLength,
    timeout: s.timeout,
    memoryBytes: s.totalBytes,
    used: s.used,
    attached: s.attached,
    createdAt: s.createdAtMs,
    hits: c[NativeCounter.hits],
    misses: c[NativeCounter.misses],
    sets: c[NativeCounter.sets],
    replaced: c[NativeCounter.replaced],
    deletes: c[NativeCounter.deletes],
    evictions: c[NativeCounter.evictions],
    expired: c[NativeCounter.expired],
    tooLarge: c[NativeCounter.tooLarge],
    errors: c[NativeCounter.errors],
    sweepRuns: c[NativeCounter.sweepRuns],
    sweepSeconds: c[NativeCounter.sweepNanos] / 1e9,
    recoveries: c[NativeCounter.recoveries],
    ticketKey: {
      generation: s.ticketGeneration,
      ageSeconds: s.ticketGeneration === 0 ? null : Math.max(0, (Date.now() - s.ticketSetAtMs) / 1000),
      applied: c[TICKET_KEY_APPLIED],
      keys: popcount(s.ticketPresent),
      mode: c[TICKET_SINGLE_KEY_INSTALLED] > 0 ? 'single-key' : c[TICKET_RING_INSTALLED] > 0 ? 'ring' : 'none',
      renewed: c[TICKET_RENEWED],
      unknownKey: c[TICKET_UNKNOWN_KEY],
    },
    maintainerPid: s.leasePid,
    handshakes,
    tls13SessionsSkipped: c[TLS13_SESSIONS_SKIPPED],
    otherVersionHandshakes: c[OTHER_VERSION_HANDSHAKES],
  };
}

function popcount(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m >>>= 1) n += m & 1;
  return n;
}
