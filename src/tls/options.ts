/**
 * The options of setupSharedCache() and attachSharedCache(), their defaults,
 * and their validation. Both entry points share one definition of each option
 * so that a cluster primary and a masterless process (which plays the
 * primary's part itself) accept exactly the same words.
 */
import path from 'node:path';
import { LIMITS } from '../core/shared-cache';
import { checkInteger, checkNumber, checkOptions, checkString, typeError } from '../core/validate';

/** Defaults of the embedded cache (the cluster primary's and a single process's). */
export const DEFAULTS = {
  /** Slots: sessions held at once. nginx: size of `ssl_session_cache shared:NAME:SIZE`. */
  items: 20000,
  /** The allocation granule: a session takes ceil(size / blocksize) chained blocks. */
  blocksize: 64,
  /** Seconds a session is kept: nginx's `ssl_session_timeout` default, and Node's documented `sessionTimeout`. */
  timeout: 300,
  /** Seconds between sweeps of expired slots. uWSGI: `cache-expire-freq`. */
  sweepInterval: 30,
  /** Seconds between ticket key rotations: 12 hours. */
  ticketRotate: 12 * 60 * 60,
  /** Port of the statistics endpoint when `stats: true` (the `tls-shm-cache stats` default). */
  statsPort: 9090,
  /** Address of the statistics endpoint: loopback unless the user says otherwise. */
  statsHost: '127.0.0.1',
} as const;

/** The longest accepted rotation period: 30 days, in seconds. */
const MAX_ROTATE_SECONDS = 30 * 24 * 60 * 60;
/** The longest sweep interval: one day, in seconds. */
const MAX_SWEEP_SECONDS = 24 * 60 * 60;

/** Session-ticket key handling. */
export interface TicketOptions {
  /**
   * Seconds between rotations of the cluster's 48-byte ticket key (default
   * 43200 = 12 hours). Node holds one key, so a ticket issued under the
   * previous key costs one full handshake after a rotation. nginx rotates by
   * reloading `ssl_session_ticket_key` files.
   */
  rotate?: number;
}

/** Where the statistics endpoint listens. */
export interface StatsOptions {
  /** TCP port (default 9090; 0 picks a free one). */
  port?: number;
  /** Address to bind (default 127.0.0.1). Anything else exposes the counters to that network. */
  host?: string;
}

/** Options that decide how a cache is created and maintained (primary, single process, masterless). */
export interface MaintainedCacheOptions {
  /** Sessions held at once (default 20000). uWSGI: `items=`; nginx sizes the zone in bytes instead. */
  items?: number;
  /**
   * The allocation granule in bytes (default 64): a session takes
   * ceil(size / blocksize) blocks, chained, so memory follows real session
   * sizes. TLS 1.2 sessions without a client certificate take about 130–200
   * bytes; sessions of clients that present a certificate carry it, 0.7–4 KB
   * (README: sizing). uWSGI: `blocksize=`.
   */
  blocksize?: number;
  /** Value blocks (default: `items` sessions of the typical mix, 448 bytes on average). uWSGI: `blocks=`. */
  blocks?: number;
  /** Largest session stored, in bytes (default 10240, Node's own limit); larger ones count as `tooLarge`. */
  maxValueBytes?: number;
  /**
   * Seconds a session stays resumable from the cache (default 300). A session
   * is kept for the shorter of this and the lifetime OpenSSL wrote into it
   * (the server's `sessionTimeout`; 7200 s when the server sets none, despite
   * the 300 s in Node's docs), since OpenSSL refuses an older one anyway. It
   * does not shorten tickets, which OpenSSL checks against `sessionTimeout`.
   * nginx: `ssl_session_timeout`.
   */
  timeout?: number;
  /** Seconds between sweeps that free expired slots (default 30; fractions allowed). */
  sweepInterval?: number;
  /**
   * The cluster-wide ticket key: `{ rotate }` (the default, 12 h) or `false`
   * to leave every server's own ticket key alone (Node's: random per process,
   * copied from the first worker by the cluster module, never rotated).
   */
  tickets?: TicketOptions | false;
  /**
   * A file that backs the cache instead of anonymous shared memory: processes
   * that share no primary open it by this path, and it survives restarts. It
   * holds session secrets and the ticket key: the library creates it 0600;
   * keep it on a tmpfs (e.g. under /dev/shm) if they must not reach a disk.
   */
  path?: string;
  /** Serve the statistics over HTTP (`true` = port 9090 on 127.0.0.1; default `false`). */
  stats?: StatsOptions | boolean;
}

/** The validated, defaulted form of {@link MaintainedCacheOptions}. */
export interface ResolvedCacheOptions {
  items: number;
  blocksize: number;
  blocks: number | undefined;
  maxValueBytes: number | undefined;
  timeout: number;
  sweepIntervalMs: number;
  /** Milliseconds between rotations, or null when `tickets: false`. */
  rotateMs: number | null;
  path: string | undefined;
  stats: Required<StatsOptions> | null;
}

export const MAINTAINED_CACHE_OPTIONS = ['items', 'blocksize', 'blocks', 'maxValueBytes', 'timeout', 'sweepInterval', 'tickets', 'path', 'stats'] as const;

/** Validates and defaults the cache options, naming the option (`where.option`) in every error. */
export function resolveCacheOptions(o: MaintainedCacheOptions, where: string): ResolvedCacheOptions {
  const items = checkInteger(o.items, `${where}: items`, 1, LIMITS.items, DEFAULTS.items);
  const blocksize = checkInteger(o.blocksize, `${where}: blocksize`, LIMITS.minBlocksize, LIMITS.blocksize, DEFAULTS.blocksize);
  const blocks = o.blocks === undefined ? undefined : checkInteger(o.blocks, `${where}: blocks`, 1, LIMITS.blocks);
  const maxValueBytes =
    o.maxValueBytes === undefined ? undefined : checkInteger(o.maxValueBytes, `${where}: maxValueBytes`, 1, LIMITS.maxValueBytes);
  const timeout = checkInteger(o.timeout, `${where}: timeout`, 1, LIMITS.timeout, DEFAULTS.timeout);
  const sweepInterval = checkNumber(o.sweepInterval, `${where}: sweepInterval`, 0.01, MAX_SWEEP_SECONDS, DEFAULTS.sweepInterval);
  return {
    items,
    blocksize,
    blocks,
    maxValueBytes,
    timeout,
    sweepIntervalMs: Math.round(sweepInterval * 1000),
    rotateMs: resolveTickets(o.tickets, where),
    path: o.path === undefined ? undefined : path.resolve(checkString(o.path, `${where}: path`)),
    stats: resolveStats(o.stats, where),
  };
}

function resolveTickets(value: unknown, where: string): number | null {
  if (value === false) return null;
  if (value === true) throw typeError(`${where}: tickets must be { rotate: seconds } or false, got true`);
  const t = checkOptions<TicketOptions>(value, `${where}: tickets`, ['rotate']);
  return Math.round(checkNumber(t.rotate, `${where}: tickets.rotate`, 1, MAX_ROTATE_SECONDS, DEFAULTS.ticketRotate) * 1000);
}

function resolveStats(value: unknown, where: string): Required<StatsOptions> | null {
  if (value === undefined || value === false) return null;
  const s = value === true ? {} : checkOptions<StatsOptions>(value, `${where}: stats`, ['port', 'host']);
  return {
    port: checkInteger(s.port, `${where}: stats.port`, 0, 65535, DEFAULTS.statsPort),
    host: s.host === undefined ? DEFAULTS.statsHost : checkString(s.host, `${where}: stats.host`),
  };
}
