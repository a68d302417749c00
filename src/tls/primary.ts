/**
 * setupSharedCache(): the cluster primary's part. It creates the segment,
 * publishes its handle in the environment that cluster.fork() copies into
 * every worker, and runs the housekeeping no worker should do: sweeping
 * expired slots, rotating the cluster's ticket key, serving statistics.
 */
import cluster from 'node:cluster';
import { restoreClusterEnv, writeClusterEnv } from './cluster-env';
import { Maintenance } from './maintenance';
import { SharedCache } from '../core/shared-cache';
import type { CacheStats } from '../core/shared-cache';
import { startStatsServer, StatsServer } from '../stats/server';
import { MAINTAINED_CACHE_OPTIONS, MaintainedCacheOptions, resolveCacheOptions } from './options';
import { checkOptions } from '../core/validate';
import { CONTEXT_SEED_ENV, RemoteTierHandle, startRemoteTier } from './remote-hook';
import type { RemoteSection } from '../stats/document';
import { TlsShmCacheError } from '../core/errors';
import { warnOnce } from '../core/warnings';
import { createCacheAdapting } from './own-cache';
import type { ResolvedCacheOptions } from './options';

/**
 * The primary's cache. Where the native core cannot run (macOS laptops), an
 * in-process store instead, with a warning: the workers then each keep their
 * own (attach.ts) and sessions are not shared between them.
 */
function createPrimaryCache(o: ResolvedCacheOptions): SharedCache {
  const geometry = { items: o.items, blocksize: o.blocksize, blocks: o.blocks, maxValueBytes: o.maxValueBytes, timeout: o.timeout };
  try {
    return createCacheAdapting(o);
  } catch (error) {
    if (!(error instanceof TlsShmCacheError) || error.code !== 'ERR_TLS_SHM_PLATFORM') throw error;
    warnOnce(
      'TLS_SHM_NOT_SHARED',
      `tls-shm-cache: ${error.message}. Sessions will NOT be shared between workers: each worker uses an ` +
        "in-process store of its own and Node's own ticket keys (so a session-ID client resumes only on the worker " +
        'that made its session). Fine for development; run production on Linux.',
    );
    return SharedCache.createInProcess(geometry);
  }
}

/** Options of {@link setupSharedCache}: see each field for its default. */
export type SetupOptions = MaintainedCacheOptions;

/** What setupSharedCache returns. */
export interface SharedCacheSetup {
  /** The cache the workers open. */
  readonly cache: SharedCache;
  /** Counters summed over every process, and the geometry. */
  stats(): CacheStats;
  /** The cross-host tier's figures (the `remote` section of /stats); undefined without the `remote` option. */
  remoteStats(): RemoteSection | undefined;
  /** The statistics endpoint's base URL once it listens; undefined without the `stats` option. */
  readonly statsUrl: Promise<string> | undefined;
  /**
   * Rotates the ticket key ring now (e.g. on SIGHUP) instead of waiting for
   * `tickets.rotate`: next becomes current, current previous, a fresh next is
   * made; every server uses it from its next ticket. Tickets under the former
   * current key still resume (and are renewed); those under the former
   * previous key cost one full handshake. After a key may have leaked, call it
   * twice. With `tickets.keys`, re-reads the key files and publishes them.
   * Returns the ring's new generation. Throws if set up with `tickets: false`.
   * With `remote`, the fleet's ring in Redis is rotated instead (every host
   * follows within its poll interval) and 0 is returned at once: the new
   * generation shows in `remoteStats().ring.generation`.
   */
  rotateTicketKey(): number;
  /**
   * Stops the timers and the stats server, withdraws the handle from the
   * environment and closes the cache; a shared-memory segment is removed
   * (workers that still have it mapped keep working until they exit). A file
   * given by `path` is kept.
   */
  close(): Promise<void>;
}

let active: SharedCacheSetup | undefined;

/**
 * Sets the shared cache up in the cluster primary. Call it before the first
 * cluster.fork(): workers find the cache through the environment they inherit.
 *
 * @example
 *   if (cluster.isPrimary) {
 *     setupSharedCache({ items: 50000, stats: { port: 9090 } });
 *     for (let i = 0; i < 4; i++) cluster.fork();
 *   } else {
 *     const server = https.createServer({ key, cert }, app);
 *     attachSharedCache(server);
 *     server.listen(443);
 *   }
 *
 * @throws TypeError / RangeError for a misspelt or out-of-range option; a
 *   TypeError when called in a worker or twice; TlsShmCacheError when the
 *   segment cannot be created (e.g. /dev/shm full, ERR_TLS_SHM_SYSTEM).
 */
export function setupSharedCache(options?: SetupOptions): SharedCacheSetup {
  const o = resolveCacheOptions(checkOptions<SetupOptions>(options, 'setupSharedCache', MAINTAINED_CACHE_OPTIONS), 'setupSharedCache');
  if (cluster.isWorker) {
    throw Object.assign(
      new TypeError('setupSharedCache: call it in the cluster primary, before cluster.fork(); workers call attachSharedCache(server)'),
      { code: 'ERR_INVALID_STATE' },
    );
  }
  if (active) {
    throw Object.assign(new TypeError('setupSharedCache: already set up in this process; close() the first one before another'), {
      code: 'ERR_INVALID_STATE',
    });
  }
  const forked = Object.keys(cluster.workers ?? {}).length;
  if (forked > 0) {
    warnOnce(
      'TLS_SHM_SETUP_AFTER_FORK',
      `tls-shm-cache: setupSharedCache() was called after ${forked} worker(s) were forked; they have no shared cache ` +
        '(their attachSharedCache() fails with ERR_TLS_SHM_NO_PRIMARY). Call it before the first cluster.fork(); ' +
        'workers forked from now on get it.',
    );
  }
  const cache = createPrimaryCache(o);
  let maintenance: Maintenance | undefined;
  let stats: StatsServer | undefined;
  let remote: RemoteTierHandle | undefined;
  try {
    // The first tick publishes the ticket key before any worker exists. With
    // `remote` the fleet's ring in Redis decides later keys: no local rotation.
    const rotateMs = o.remote && o.rotateMs !== null ? Infinity : o.rotateMs;
    maintenance = new Maintenance(cache, { sweepIntervalMs: o.sweepIntervalMs, rotateMs, ticketKeys: o.ticketKeys }).start();
    if (o.remote) {
      remote = startRemoteTier(o.remote, { cache, timeoutMs: o.timeout * 1000, rotateMs: o.rotateMs, active: () => true, where: 'setupSharedCache' });
    }
    if (o.stats) {
      const tier = remote;
      stats = startStatsServer(() => (tier ? { ...cache.stats(), remote: tier.stats() } : cache.stats()), o.stats);
      // Reported through statsUrl; a caller that never looks still hears of it.
      stats.ready.catch((error: Error) => warnOnce('TLS_SHM_STATS_LISTEN', `tls-shm-cache: the stats server could not listen: ${error.message}`));
    }
  } catch (error) {
    maintenance?.stop();
    void remote?.close();
    cache.close();
    throw error;
  }
  const sharedTickets = o.rotateMs !== null || o.ticketKeys !== undefined;
  const previousEnv = writeClusterEnv(cache.handle, sharedTickets ? 'shared' : 'node');
  // Workers build their session ID context from this instead of the segment's
  // creation time, so that sessions and tickets resume on every host.
  const previousSeed = process.env[CONTEXT_SEED_ENV];
  if (remote) process.env[CONTEXT_SEED_ENV] = remote.contextSeed;

  let closed: Promise<void> | undefined;
  const setup: SharedCacheSetup = {
    cache,
    stats: () => cache.stats(),
    remoteStats: () => remote?.stats(),
    statsUrl: stats?.ready,
    rotateTicketKey() {
      if (!sharedTickets) {
        throw Object.assign(new TypeError('rotateTicketKey: set up with tickets: false, the workers keep Node\'s own keys'), {
          code: 'ERR_INVALID_STATE',
        });
      }
      if (cache.closed) throw Object.assign(new TypeError('rotateTicketKey: the cache is closed'), { code: 'ERR_INVALID_STATE' });
      if (remote && o.rotateMs !== null) {
        void remote.rotateNow().catch(() => undefined);
        return 0;
      }
      return maintenance!.rotateNow();
    },
    close() {
      closed ??= (async () => {
        maintenance!.stop();
        restoreClusterEnv(cache.handle, previousEnv);
        if (remote && process.env[CONTEXT_SEED_ENV] === remote.contextSeed) {
          if (previousSeed === undefined) delete process.env[CONTEXT_SEED_ENV];
          else process.env[CONTEXT_SEED_ENV] = previousSeed;
        }
        await remote?.close().catch(() => undefined);
        if (active === setup) active = undefined;
        try {
          await stats?.close();
        } finally {
          cache.close();
        }
      })();
      return closed;
    },
  };
  active = setup;
  return setup;
}
