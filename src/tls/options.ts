/**
 * The options of setupSharedCache() and attachSharedCache(), their defaults,
 * and their validation. Both entry points share one definition of each option
 * so that a cluster primary and a masterless process (which plays the
 * primary's part itself) accept exactly the same words.
 */
import path from 'node:path';
import { DEFAULT_BLOCKSIZE, deriveGeometry, LIMITS } from '../core/shared-cache';
import { checkInteger, checkNumber, checkOptions, checkString, typeError } from '../core/validate';
import type { RemoteOptions } from './remote-hook';
import { SuppliedTicketKeys, TicketKeySpec } from './ticket-ring';

/** Defaults of the embedded cache (the cluster primary's and a single process's). */
export const DEFAULTS = {
  /** Slots: sessions held at once. nginx: size of `ssl_session_cache shared:NAME:SIZE`. */
  items: 20000,
  /** The allocation granule: a session and its key take ceil(size / blocksize) chained blocks. */
  blocksize: DEFAULT_BLOCKSIZE,
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

/** Session-ticket key handling: automatic rotation (`rotate`, the default) or operator-supplied `keys`. */
export interface TicketOptions {
  /**
   * Seconds between rotations of the cluster's ring of ticket keys (default
   * 43200 = 12 hours). The ring holds next, current and previous keys: a
   * ticket resumes until the second rotation after it was issued, i.e. for at
   * least one and at most two rotation periods, and never longer than the
   * server's `sessionTimeout` (OpenSSL's own check). Choose `rotate` at least
   * as long as `sessionTimeout` if tickets should live their full timeout.
   * Caddy: 12 h; HAProxy and nginx leave rotation to the operator.
   */
  rotate?: number;
  /**
   * Keys the operator supplies instead of automatic rotation, for fleets that
   * distribute keys themselves (nginx `ssl_session_ticket_key`, HAProxy
   * `tls-ticket-keys`): 48- or 80-byte Buffers in nginx's layouts, paths of key
   * files (base64 keys one a line, or one raw 48/80-byte key), or one path.
   * The first key encrypts; the others (at most 4 in all) decrypt and renew.
   * Key files are re-read when they change (checked every maintenance tick, at
   * most 5 s apart) and on rotateTicketKey(), without a restart. Not with `rotate`.
   */
  keys?: TicketKeySpec;
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
  /** Sessions held at once (default 20000, or derived from `memory`). uWSGI: `items=`. */
  items?: number;
  /**
   * A memory budget in bytes instead of `items`, the way nginx sizes
   * `ssl_session_cache shared:NAME:SIZE`: as many slots as typical sessions
   * fit (about 4,400 a MiB), and every block the rest holds, so larger
   * sessions fill blocks before slots run out. The whole segment stays within it.
   */
  memory?: number;
  /**
   * The allocation granule in bytes (default 96): a session and its key (the
   * 32-byte session ID) take ceil(bytes / blocksize) blocks, chained, so
   * memory follows real session sizes. TLS 1.2 sessions without a client
   * certificate take about 160 bytes (two default blocks with the key; with
   * ALPN 164–170, where 104 fits better); sessions of clients that present a
   * certificate carry it, 0.7–4 KB (README: sizing). uWSGI: `blocksize=`.
   */
  blocksize?: number;
  /** Blocks (default: `items` sessions of the typical mix, 448 bytes on average; with `memory`, the rest of it). uWSGI: `blocks=`. */
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
   * The cluster-wide ring of ticket keys: `{ rotate }` (the default, 12 h),
   * `{ keys }` (operator-supplied keys), or `false` to leave every server's
   * own ticket key alone (Node's: random per process, copied from the first
   * worker by the cluster module, never rotated).
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
  /**
   * Share sessions and the ticket key with other hosts through Redis 6+ or
   * Valkey (README: "Several hosts"). Needs the `redis` package. Only the
   * primary (or the lease holder) connects; handshakes never wait for it.
   */
  remote?: RemoteOptions;
}

/** The validated, defaulted form of {@link MaintainedCacheOptions}. */
export interface ResolvedCacheOptions {
  items: number;
  blocksize: number;
  blocks: number | undefined;
  maxValueBytes: number | undefined;
  timeout: number;
  sweepIntervalMs: number;
  /** Milliseconds between rotations, or null when `tickets: false` or keys are supplied. */
  rotateMs: number | null;
  /** Operator-supplied ticket keys (`tickets.keys`), else undefined. */
  ticketKeys: SuppliedTicketKeys | undefined;
  path: string | undefined;
  stats: Required<StatsOptions> | null;
  /** As given; validated by the remote tier when it starts. */
  remote: RemoteOptions | undefined;
}

export const MAINTAINED_CACHE_OPTIONS = ['items', 'memory', 'blocksize', 'blocks', 'maxValueBytes', 'timeout', 'sweepInterval', 'tickets', 'path', 'stats', 'remote'] as const;

/** Validates and defaults the cache options, naming the option (`where.option`) in every error. */
export function resolveCacheOptions(o: MaintainedCacheOptions, where: string): ResolvedCacheOptions {
  let items = checkInteger(o.items, `${where}: items`, 1, LIMITS.items, DEFAULTS.items);
  const blocksize = checkInteger(o.blocksize, `${where}: blocksize`, LIMITS.minBlocksize, LIMITS.blocksize, DEFAULTS.blocksize);
  let blocks = o.blocks === undefined ? undefined : checkInteger(o.blocks, `${where}: blocks`, 1, LIMITS.blocks);
  const maxValueBytes =
    o.maxValueBytes === undefined ? undefined : checkInteger(o.maxValueBytes, `${where}: maxValueBytes`, 1, LIMITS.maxValueBytes);
  const timeout = checkInteger(o.timeout, `${where}: timeout`, 1, LIMITS.timeout, DEFAULTS.timeout);
  if (o.memory !== undefined) {
    // Resolved to items and blocks here, so that everything downstream (the
    // primary, masterless files, worker option checks) sees one geometry.
    const memory = checkInteger(o.memory, `${where}: memory`, 1, LIMITS.segmentBytes);
    try {
      ({ items, blocks } = deriveGeometry({ items: o.items, memory, blocksize, blocks, maxValueBytes }));
    } catch (error) {
      throw Object.assign(error as Error, { message: `${where}: ${(error as Error).message}` });
    }
  }
  const sweepInterval = checkNumber(o.sweepInterval, `${where}: sweepInterval`, 0.01, MAX_SWEEP_SECONDS, DEFAULTS.sweepInterval);
  return {
    items,
    blocksize,
    blocks,
    maxValueBytes,
    timeout,
    sweepIntervalMs: Math.round(sweepInterval * 1000),
    ...resolveTickets(o.tickets, where),
    path: o.path === undefined ? undefined : path.resolve(checkString(o.path, `${where}: path`)),
    stats: resolveStats(o.stats, where),
    remote: o.remote,
  };
}

function resolveTickets(value: unknown, where: string): { rotateMs: number | null; ticketKeys: SuppliedTicketKeys | undefined } {
  if (value === false) return { rotateMs: null, ticketKeys: undefined };
  if (value === true) throw typeError(`${where}: tickets must be { rotate: seconds }, { keys } or false, got true`);
  const t = checkOptions<TicketOptions>(value, `${where}: tickets`, ['rotate', 'keys']);
  if (t.keys !== undefined) {
    if (t.rotate !== undefined) {
      throw typeError(`${where}: tickets takes rotate (automatic keys) or keys (supplied keys), not both`);
    }
    return { rotateMs: null, ticketKeys: new SuppliedTicketKeys(t.keys, where) };
  }
  const rotate = checkNumber(t.rotate, `${where}: tickets.rotate`, 1, MAX_ROTATE_SECONDS, DEFAULTS.ticketRotate);
  return { rotateMs: Math.round(rotate * 1000), ticketKeys: undefined };
}

function resolveStats(value: unknown, where: string): Required<StatsOptions> | null {
  if (value === undefined || value === false) return null;
  const s = value === true ? {} : checkOptions<StatsOptions>(value, `${where}: stats`, ['port', 'host']);
  return {
    port: checkInteger(s.port, `${where}: stats.port`, 0, 65535, DEFAULTS.statsPort),
    host: s.host === undefined ? DEFAULTS.statsHost : checkString(s.host, `${where}: stats.host`),
  };
}
