/**
 * Warnings an operator must see but that must not stop a server: emitted
 * through process.emitWarning (printed on stderr by Node unless the process
 * runs with --no-warnings; `process.on('warning')` sees them with their
 * code), each code at most once per process, so that a condition met on every
 * handshake does not flood the log.
 */

/** The codes of the warnings this library emits (README "Warnings"). */
export type TlsShmCacheWarningCode =
  | 'TLS_SHM_GEOMETRY_KEPT' // a masterless file in use has another geometry than asked: its own is used
  | 'TLS_SHM_GEOMETRY_REPLACED' // a masterless file nobody used had another geometry or layout version: replaced by the one asked
  | 'TLS_SHM_FILE_INCOMPATIBLE' // a masterless file of another layout version or C library is in use by its processes: a private cache is used
  | 'TLS_SHM_WORKER_OPTIONS_IGNORED' // sizing options given in a cluster worker differ from the primary's
  | 'TLS_SHM_INHERITED_HANDLE_IGNORED' // a non-cluster child process found a handle in its environment and ignored it
  | 'TLS_SHM_SESSION_TOO_LARGE' // a session did not fit in blocksize and was not shared
  | 'TLS_SHM_SETUP_AFTER_FORK' // setupSharedCache() ran after workers were forked: those have no cache
  | 'TLS_SHM_IN_PROCESS' // no native core on this platform: an in-process store, not shared
  | 'TLS_SHM_NOT_SHARED' // a cluster on a platform without the native core: sessions are not shared
  | 'TLS_SHM_STATS_LISTEN' // the stats server could not listen
  | 'TLS_SHM_CACHE_FAILED' // a cache operation failed on the handshake path (the handshake went on)
  | 'TLS_SHM_MAINTENANCE_FAILED'; // a sweep or a rotation failed (retried at the next tick)

const emitted = new Set<string>();

/** Emits `message` as a TlsShmCacheWarning with `code`, unless this code (and `key`) was already emitted. */
export function warnOnce(code: TlsShmCacheWarningCode, message: string, key = ''): boolean {
  const id = `${code}\0${key}`;
  if (emitted.has(id)) return false;
  emitted.add(id);
  process.emitWarning(message, { type: 'TlsShmCacheWarning', code });
  return true;
}
