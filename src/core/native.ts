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
  /** Renames `replacement` over `path` if nobody has `path` attached: 0 replaced, 1 in use, 2 changed (native/segment.h). */
  replaceUnusedFile?(path: string, replacement: string): number;
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

/**
 * The platform the loader believes it runs on. TLS_SHM_CACHE_TEST_PLATFORM
 * (e.g. `darwin`) makes a Linux test process behave as one without the native
 * core, to test the in-process fallback; it is honoured only with
 * NODE_ENV=test, so it cannot switch a production server's cache off.
 */
export function effectivePlatform(): string {
  const simulated = process.env.TLS_SHM_CACHE_TEST_PLATFORM;
  if (simulated && process.env.NODE_ENV === 'test') return simulated;
  return process.platform;
}

/** The C library tag prebuilds are chosen by (node-gyp-build's own test: musl on Alpine). */
function libcOf(): string {
  if (process.platform !== 'linux') return '';
  if (process.env.LIBC) return process.env.LIBC;
  try {
    // process.report names glibc's version when Node runs on glibc.
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return header?.glibcVersionRuntime ? 'glibc' : 'musl';
  } catch {
    return 'unknown libc';
  }
}

/** The package's root: where prebuilds/ and build/ are looked for. */
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

/**
 * Loads the addon once; throws ERR_TLS_SHM_PLATFORM where the cache cannot
 * work (not Linux), ERR_TLS_SHM_NO_BINDING where no build of it was found.
 */
export function loadNative(): NativeBinding {
  if (binding) return binding;
  const platform = effectivePlatform();
  if (platform !== 'linux') {
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_PLATFORM',
      `tls-shm-cache needs Linux (robust process-shared mutexes and OFD locks); this is ${platform}`,
    );
  }
  const loaded = loadBindingFrom(PACKAGE_ROOT, process.env.TLS_SHM_CACHE_BINDING);
  if (loaded.unsupported) throw new TlsShmCacheError('ERR_TLS_SHM_PLATFORM', loaded.unsupported);
  binding = loaded;
  return binding;
}

/**
 * Requires the addon from `explicit` (a .node file) or through node-gyp-build
 * from `root`, turning "nothing found" into ERR_TLS_SHM_NO_BINDING with what
 * to do about it. Exported for tests, which point it at an empty directory.
 */
export function loadBindingFrom(root: string, explicit?: string): NativeBinding {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return explicit ? require(explicit) : require('node-gyp-build')(root);
  } catch (error) {
    const target = `platform=${process.platform} arch=${process.arch}${libcOf() ? ` libc=${libcOf()}` : ''} node=${process.versions.node} (N-API ${process.versions.napi})`;
    const where = explicit ? `TLS_SHM_CACHE_BINDING=${explicit}` : `${path.join(root, 'prebuilds')} or ${path.join(root, 'build')}`;
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_NO_BINDING',
      `tls-shm-cache: no native build for ${target} in ${where}. ` +
        'There is no prebuild for this platform and none was compiled at install. To build it: ' +
        'install a C++ toolchain and Python (Debian: apt-get install build-essential python3; Alpine: apk add build-base python3), then run ' +
        '`npm rebuild tls-shm-cache`. If npm skipped its install script (npm 11 allowScripts), allow it with ' +
        '`npm install-scripts approve tls-shm-cache` (or "allowScripts": { "tls-shm-cache": true } in package.json; ' +
        'global installs: --allow-scripts=tls-shm-cache) and run `npm rebuild tls-shm-cache`. ' +
        `(${(error as Error).message.split('\n')[0]})`,
      { cause: error },
    );
  }
}
