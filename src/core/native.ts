/**
 * The only module that loads the addon. node-gyp-build picks a prebuild from
 * prebuilds/ when one matches this platform, else the local build in build/.
 * Bundlers that move files can point TLS_SHM_CACHE_BINDING at the .node file.
 */
import path from 'node:path';
import { TlsShmCacheError } from './errors';

/** Counters summed over every process, plus the segment's geometry. */
export interface NativeStats {
  counters: Float64Array;
  attached: number;
  used: number;
  items: number;
  blocksize: number;
  blocks: number;
  maxValueBytes: number;
  blocksFree: number;
  bytesStored: number;
  maxKeyLength: number;
  timeout: number;
  totalBytes: number;
  createdAtMs: number;
  ticketGeneration: number;
  ticketSetAtMs: number;
  /** Bit i set: slot i of the ticket key ring holds a key. */
  ticketPresent: number;
  leasePid: number;
  handle: string;
}

/** What `set` did: the values of SetResult in native/slots.h. */
export const enum SetStatus {
  Inserted = 0,
  Replaced = 1,
  TooLarge = 2,
  LockFailed = 3,
}

/** What drainOutbox copied out: [key, value, expiresAtMs] rows and what it could not. */
export interface NativeOutboxDrain {
  cursor: number;
  lost: number;
  stale: number;
  items: [Buffer, Buffer, number][];
}

export interface NativeCache {
  /** Registers the slab that getInto writes values into (see SharedCache.get). */
  setSlab(slab: Buffer): void;
  /** Copies the value for `key` to slab[offset..]; returns its length, or -1 on a miss. */
  getInto(key: Uint8Array, offset: number): number;
  /** Stores `value` under `key` for `ttlMs` milliseconds. Like getInto, a plain function bound to its cache (an own property). */
  set(key: Uint8Array, value: Uint8Array, ttlMs: number): SetStatus;
  delete(key: Uint8Array): boolean;
  sweep(): number;
  stats(): NativeStats;
  count(counter: number, n: number): void;
  /** Replaces the ticket key ring (256 bytes, 4 records of name16/hmac32/aes16); returns the generation, 0 if the lock failed. */
  setTicketRing(ring: Uint8Array, present: number): number;
  /** One rotation with two fresh 64-byte records; returns the generation, 0 if the lock failed. */
  rotateTicketRing(fresh: Uint8Array): number;
  ticketRing(): { generation: number; setAtMs: number; present: number; ring: Buffer } | undefined;
  ticketGeneration(): number;
  acquireLease(staleMs: number): boolean;
  releaseLease(): void;
  outboxHead(): number;
  drainOutbox(cursor: number, maxItems: number): NativeOutboxDrain;
  unlink(): void;
  close(): void;
}

export interface NativeBinding {
  create(
    items: number,
    blocksize: number,
    blocks: number,
    maxValueBytes: number,
    maxKeyLength: number,
    timeoutSeconds: number,
    path?: string,
  ): { cache: NativeCache; created: boolean };
  open(handle: string): NativeCache;
  /** An unnamed segment (memfd) owned by this process; handle `memfd:/proc/PID/fd/N`. */
  createMemfd(
    items: number,
    blocksize: number,
    blocks: number,
    maxValueBytes: number,
    maxKeyLength: number,
    timeoutS: number,
  ): NativeCache;
  layoutVersion: number;
  counterSlots: number;
  /** sizeof(Header) in native/layout.h. */
  headerBytes: number;
  unsupported?: string;
}

let binding: NativeBinding | undefined;

/** Loads the addon once; throws ERR_TLS_SHM_PLATFORM where the cache cannot work. */
export function loadNative(): NativeBinding {
  if (binding) return binding;
  if (process.platform !== 'linux') {
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_PLATFORM',
      `tls-shm-cache needs Linux (robust process-shared mutexes and OFD locks); this is ${process.platform}`,
    );
  }
  const explicit = process.env.TLS_SHM_CACHE_BINDING;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded: NativeBinding = explicit ? require(explicit) : require('node-gyp-build')(path.join(__dirname, '..', '..'));
  if (loaded.unsupported) throw new TlsShmCacheError('ERR_TLS_SHM_PLATFORM', loaded.unsupported);
  binding = loaded;
  return binding;
}
