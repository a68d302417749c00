/**
 * Where the TLS layer meets the cross-host tier (src/remote) without importing
 * it: the tier registers a factory here when src/remote is loaded (src/index.ts
 * loads it), and setupSharedCache() / attachSharedCache() call it when given a
 * `remote` option. The TLS layer knows only this interface.
 */
import type { SharedCache } from '../core/shared-cache';
import type { RemoteSection } from '../stats/document';

/** The cross-host tier: sessions and ticket keys shared through Redis 6+ / Valkey. */
export interface RemoteOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). Required unless `sentinel` is given. */
  url?: string;
  /**
   * The fleet's secret (at least 16 bytes; a string is taken as UTF-8), or a
   * list of them: the first seals, every one opens, so a secret is rotated by
   * deploying `[new, old]` to every host and later `[new]`. Sessions and ticket
   * keys are sealed with AES-256-GCM under keys derived from it (HKDF-SHA256).
   */
  secret: string | Buffer | readonly (string | Buffer)[];
  /**
   * More node-redis client options, for what a URL cannot say: `socket.tls`,
   * `socket.ca`/`cert`/`key`, `username`/`password`, `database`, … They are
   * merged over `{ url }`; the library sets its own reconnect strategy
   * (jittered backoff) and turns off node-redis's offline queue.
   */
  client?: Record<string, unknown>;
  /**
   * Find the master through Redis Sentinel and follow it across failovers:
   * node-redis `createSentinel` options, e.g. `{ name: 'mymaster',
   * sentinelRootNodes: [{ host, port }] }`. `client` then applies to the
   * connections to the Redis nodes (password, TLS).
   */
  sentinel?: Record<string, unknown>;
  /** Prefix of every Redis key this library uses (default `'tls-shm-cache'`): one fleet per prefix. */
  prefix?: string;
  /**
   * Prefix of the ticket-key ring's keys (default: `prefix`). A fleet too large
   * for one session stream gives each group of hosts its own `prefix` (a stream
   * each) and all of them one `ringPrefix`: tickets then resume on every host,
   * session IDs within the group (README: "Several hosts").
   */
  ringPrefix?: string;
  /**
   * Entries the session stream keeps (XADD MAXLEN ~, default 100000): what a
   * host that was away can catch up on. Make it at least new sessions/s of the
   * whole fleet × the cache `timeout`.
   */
  maxLength?: number;
  /** Seconds between two drains of the outbox into Redis (default 0.05). The replication lag is about this plus a round trip. */
  publishInterval?: number;
  /** Seconds between two reads of the ticket-key ring when no change was heard of (default 5). */
  pollInterval?: number;
  /** This host's name in the stream (default: derived from the hostname and the segment). Hosts skip entries of their own. */
  hostId?: string;
}

/** What the maintaining process hands the tier. */
export interface RemoteStartContext {
  readonly cache: SharedCache;
  /** The cache's session timeout, in ms. */
  readonly timeoutMs: number;
  /** Milliseconds between ticket key rotations, or null with `tickets: false` (no ring is shared then). */
  readonly rotateMs: number | null;
  /** True while this process is the one that talks to Redis (the primary; the lease holder when masterless). */
  active(): boolean;
  /** The API that was called, for error messages. */
  readonly where: string;
}

/** A running tier. */
export interface RemoteTierHandle {
  /** The same on every host of the fleet: replaces the segment's creation time in the session ID context. */
  readonly contextSeed: string;
  /** The remote section of /stats. */
  stats(): RemoteSection;
  /** Asks the fleet for a new ticket key now; resolves to the new generation (0 if another host holds the rotation lock). */
  rotateNow(): Promise<number>;
  /** Stops the timers and closes the connections. */
  close(): Promise<void>;
}

export type RemoteFactory = (options: unknown, context: RemoteStartContext) => RemoteTierHandle;

let factory: RemoteFactory | undefined;

/** Called by src/remote when it is loaded. */
export function registerRemoteTier(f: RemoteFactory): void {
  factory = f;
}

/** Validates `options` and starts the tier; throws TypeError/RangeError for bad options. */
export function startRemoteTier(options: unknown, context: RemoteStartContext): RemoteTierHandle {
  if (!factory) {
    throw Object.assign(new TypeError(`${context.where}: the remote tier is not loaded; import tls-shm-cache, not its internal modules`), {
      code: 'ERR_INVALID_STATE',
    });
  }
  return factory(options, context);
}

/** The environment variable that carries the fleet's session ID context seed from a primary to its workers. */
export const CONTEXT_SEED_ENV = 'TLS_SHM_CACHE_CONTEXT_SEED';
