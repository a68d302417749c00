/**
 * Every error this library raises on purpose is a {@link TlsShmCacheError}
 * with a stable string `code`; misuse of the API (a wrong type, a value out of
 * range) is a plain `TypeError` / `RangeError` with code `ERR_INVALID_ARG_TYPE`
 * / `ERR_OUT_OF_RANGE`, as in Node's own APIs. A cache miss is `undefined`,
 * never an error.
 */

/** The codes a {@link TlsShmCacheError} can carry. */
export type TlsShmCacheErrorCode =
  | 'ERR_TLS_SHM_PLATFORM' // this platform has no robust shared-memory primitives (not Linux)
  | 'ERR_TLS_SHM_NO_BINDING' // no prebuild for this platform and no local build (npm rebuild tls-shm-cache)
  | 'ERR_TLS_SHM_SYSTEM' // a system call failed (shm_open, mmap, /dev/shm full, ...)
  | 'ERR_TLS_SHM_NOT_FOUND' // the handle or path names no segment
  | 'ERR_TLS_SHM_NOT_A_CACHE' // the file is not a tls-shm-cache segment
  | 'ERR_TLS_SHM_VERSION' // the segment was made by an incompatible layout version
  | 'ERR_TLS_SHM_CORRUPT' // the header's geometry does not match the file
  | 'ERR_TLS_SHM_GEOMETRY' // an existing cache file has another geometry than asked for
  | 'ERR_TLS_SHM_PERMISSIONS' // the file is accessible to group or others
  | 'ERR_TLS_SHM_INVALID' // the native layer refused an argument (a backstop)
  | 'ERR_TLS_SHM_CLOSED' // the cache was closed
  | 'ERR_TLS_SHM_NO_PRIMARY' // a cluster worker found no cache set up by its primary
  | 'ERR_TLS_SHM_NAMESPACE_IN_USE' // two servers attached with one namespace
  | 'ERR_TLS_SHM_TICKET_KEYS' // a ticket key file (tickets.keys) cannot be read
  | 'ERR_TLS_SHM_REMOTE_CLIENT' // the remote option was given but the 'redis' package is not installed
  | 'ERR_TLS_SHM_CRASH_LOOP'; // runCluster: a worker kept crashing; the runner stopped

const marker = Symbol.for('tls-shm-cache.error');

export class TlsShmCacheError extends Error {
  readonly code: TlsShmCacheErrorCode;

  constructor(code: TlsShmCacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsShmCacheError';
    this.code = code;
  }

  /** True for errors from any copy of this package (several can be installed). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }
}
Object.defineProperty(TlsShmCacheError.prototype, marker, { value: true });

/** Turns an error thrown by the addon (an Error with an ERR_TLS_SHM_* code) into a TlsShmCacheError. */
export function fromNative(error: unknown): unknown {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  if (error instanceof Error && typeof code === 'string') {
    if (code.startsWith('ERR_TLS_SHM_')) {
      return new TlsShmCacheError(code as TlsShmCacheErrorCode, error.message, { cause: error });
    }
  }
  return error;
}
