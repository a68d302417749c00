/**
 * Creating the cache a process owns (a cluster primary's, a single
 * process's, a masterless process's), where a file-backed cache of another
 * geometry than asked for, or one made by another layout version or C
 * library build, must never stop the service (README "Changing items or
 * blocksize"): a file nobody has open is replaced by one of the new geometry;
 * a file still in use is used as it is if this build can read it, else this
 * process serves from a private cache; each is said once.
 */
import { SharedCache } from '../core/shared-cache';
import { warnOnce } from '../core/warnings';
import type { ResolvedCacheOptions } from './options';

/** The cache for `o`: new shared memory, or the file at `o.path` (created, opened, or replaced). */
export function createCacheAdapting(
  o: Pick<ResolvedCacheOptions, 'items' | 'blocksize' | 'blocks' | 'maxValueBytes' | 'timeout' | 'path'>,
): SharedCache {
  const geometry = { items: o.items, blocksize: o.blocksize, blocks: o.blocks, maxValueBytes: o.maxValueBytes, timeout: o.timeout };
  if (o.path === undefined) return SharedCache.create(geometry);
  const opened = SharedCache.openFileAdapting({ ...geometry, path: o.path });
  if (opened.kept) {
    warnOnce(
      'TLS_SHM_GEOMETRY_KEPT',
      `tls-shm-cache: ${o.path} holds a cache of ${opened.kept}. Other processes still use it, so this one ` +
        'uses it as it is (sessions stay shared). The new geometry applies once no process has the file open: ' +
        'restart all processes together (pm2 restart, not pm2 reload), or delete the file while none runs.',
      o.path,
    );
  } else if (opened.unshared) {
    warnOnce(
      'TLS_SHM_FILE_INCOMPATIBLE',
      `tls-shm-cache: ${o.path} ${opened.unshared} (another version or build of tls-shm-cache made it), and ` +
        'processes of that version still have it open: this process cannot share a cache with them. It serves from ' +
        'a private cache instead: its TLS sessions and ticket keys are NOT shared with ' +
        'those processes (a client resumes only where it made its session). Restart all processes together ' +
        '(pm2 restart, not pm2 reload) so that they all run one version; the first one then replaces the file.',
      o.path,
    );
  } else if (opened.replacedIncompatible) {
    warnOnce(
      'TLS_SHM_GEOMETRY_REPLACED',
      `tls-shm-cache: ${o.path} ${opened.replacedIncompatible} (another version or build of tls-shm-cache made it); ` +
        'no process had it open, so it was replaced by a new file of the geometry asked for (its sessions are gone: ' +
        'clients make one full handshake).',
      o.path,
    );
  } else if (opened.replaced) {
    warnOnce(
      'TLS_SHM_GEOMETRY_REPLACED',
      `tls-shm-cache: ${o.path} held a cache of ${opened.replaced}; no process had it open, so it was replaced ` +
        'by a new file of the geometry asked for (its sessions are gone: clients make one full handshake).',
      o.path,
    );
  }
  return opened.cache;
}
