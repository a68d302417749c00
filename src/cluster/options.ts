/**
 * The options of runCluster(), their defaults and their validation. Times
 * are in milliseconds, like sticky-cluster's `hardShutdownDelay`, so that
 * its users can carry their values over unchanged.
 */
import os from 'node:os';
import type { SetupOptions } from '../tls/primary';
import type { ProxiedAddress } from './proxy-protocol';
import { checkBoolean, checkInteger, checkOptions, checkString, typeError, valueError } from '../core/validate';

/** What the primary knows of a connection before it reads any TLS byte: the input of a `sticky` function. */
export interface RoutingInfo {
  /** The peer of the TCP connection (the load balancer when `proxyProtocol` is on). */
  remoteAddress: string;
  remotePort: number;
  /** The client's address from the PROXY header; undefined without `proxyProtocol` or for a LOCAL / UNKNOWN header. */
  client: ProxiedAddress | undefined;
}

/**
 * Returns the key a connection is routed by: connections with equal keys go
 * to the same worker while it lives. Return undefined to let the runner
 * choose (round-robin).
 */
export type StickyFunction = (info: RoutingInfo) => string | number | undefined;

/** Where the runner reports; `console` fits, and so do pino and winston loggers. */
export interface RunnerLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
}

/** Options of {@link runCluster}. */
export interface ClusterOptions {
  /** Worker processes (default `os.availableParallelism()`). sticky-cluster: `concurrency`; sticky-session-custom: `workers`. */
  workers?: number;
  /** TCP port to listen on (default 8080, sticky-cluster's; 0 picks a free one, read it from the result's `address`). */
  port?: number;
  /**
   * Address to listen on (default: every address, dual stack `::` where the
   * host has IPv6, else `0.0.0.0`). `'::'` with `ipv6Only: false` takes
   * IPv4 clients too; their addresses route as plain IPv4.
   */
  host?: string;
  /** Listen only on IPv6 when `host` is `'::'` (default false). */
  ipv6Only?: boolean;
  /** Length of the accept queue (default: Node's, 511). */
  backlog?: number;
  /**
   * How connections are routed to workers:
   * - `'ip'` (default): by the client's address (from the PROXY header with
   *   `proxyProtocol`), by rendezvous hashing over the live workers;
   * - `'none'`: no stickiness; the workers listen on the port themselves and
   *   Node's cluster round-robin spreads connections;
   * - a function of {@link RoutingInfo} returning the routing key.
   */
  sticky?: 'ip' | 'none' | StickyFunction;
  /**
   * Expect HAProxy's PROXY protocol header (v1 or v2, both accepted) before
   * every connection's own bytes (default false). The primary reads exactly
   * the header, routes by the client address in it, and the worker's server
   * sees every byte after it; the app reads the address with
   * `clientAddress(socket)`. A connection without a valid header is closed.
   * Only for listeners that nothing but the balancer can reach: anyone who
   * can connect can claim any address.
   */
  proxyProtocol?: boolean;
  /** How long a connection may take to send its PROXY header, in ms (default 5000). */
  proxyTimeout?: number;
  /**
   * Extra environment variables of worker `index` (0 … workers-1), on top of
   * `TLS_SHM_WORKER_INDEX` which every worker gets. sticky-cluster: `env`.
   */
  env?: (index: number) => Record<string, string | number | undefined>;
  /** Fork a new worker with the same index when one dies (default true). */
  respawn?: boolean;
  /** Delay before the first respawn of an index, in ms (default 100); doubles with each crash within `crashWindow`. */
  respawnDelay?: number;
  /** The longest respawn delay, in ms (default 10000). */
  maxRespawnDelay?: number;
  /**
   * Crashes of one worker index within `crashWindow` that stop the runner
   * (default 5): a worker that cannot start is a bug to fix, not to retry
   * forever. The runner then shuts down and `done` rejects with
   * ERR_TLS_SHM_CRASH_LOOP.
   */
  crashLimit?: number;
  /** The window over which crashes are counted, in ms (default 60000). */
  crashWindow?: number;
  /**
   * How long a graceful shutdown may take before the remaining workers are
   * killed, in ms (default 60000). sticky-cluster: `hardShutdownDelay`.
   */
  hardShutdownDelay?: number;
  /**
   * Signals that start a graceful shutdown of the primary, which then raises
   * the signal again to end itself as the signal would have (default
   * `['SIGINT', 'SIGTERM']`; `[]` to handle them yourself and call close()).
   * Workers ignore these signals (Ctrl-C reaches them too): the primary
   * drives their shutdown.
   */
  shutdownSignals?: NodeJS.Signals[];
  /**
   * Errors of the listening socket after it listens (default: logged). An
   * error while starting to listen (EADDRINUSE) rejects runCluster() instead.
   * sticky-cluster: `errorHandler`.
   */
  errorHandler?: (error: Error) => void;
  /**
   * Where to report workers forked, died, respawned, shutdown steps
   * (default: warnings and errors to stderr, nothing else). Pass `console`
   * for everything; sticky-cluster: `debug: true`.
   */
  logger?: RunnerLogger;
  /** setupSharedCache() options for the primary (default `{}`), or false for no shared cache. */
  cache?: SetupOptions | false;
}

export interface ResolvedClusterOptions {
  workers: number;
  port: number;
  host: string | undefined;
  ipv6Only: boolean;
  backlog: number | undefined;
  sticky: 'ip' | 'none' | StickyFunction;
  proxyProtocol: boolean;
  proxyTimeout: number;
  env: ((index: number) => Record<string, string | number | undefined>) | undefined;
  respawn: boolean;
  respawnDelay: number;
  maxRespawnDelay: number;
  crashLimit: number;
  crashWindow: number;
  hardShutdownDelay: number;
  shutdownSignals: NodeJS.Signals[];
  errorHandler: ((error: Error) => void) | undefined;
  logger: Required<RunnerLogger>;
  cache: SetupOptions | false;
}

export const CLUSTER_OPTIONS = [
  'workers', 'port', 'host', 'ipv6Only', 'backlog', 'sticky', 'proxyProtocol', 'proxyTimeout', 'env', 'respawn',
  'respawnDelay', 'maxRespawnDelay', 'crashLimit', 'crashWindow', 'hardShutdownDelay', 'shutdownSignals',
  'errorHandler', 'logger', 'cache',
] as const;

export const DEFAULTS = {
  port: 8080,
  proxyTimeout: 5000,
  respawnDelay: 100,
  maxRespawnDelay: 10000,
  crashLimit: 5,
  crashWindow: 60000,
  hardShutdownDelay: 60000,
} as const;

const MAX_MS = 24 * 60 * 60 * 1000;
const noop = () => undefined;

function defaultLogger(): Required<RunnerLogger> {
  return {
    debug: noop,
    info: noop,
    warn: (message) => process.stderr.write(`tls-shm-cache runner: ${message}\n`),
    error: (message) => process.stderr.write(`tls-shm-cache runner: ${message}\n`),
  };
}

function resolveLogger(value: unknown): Required<RunnerLogger> {
  if (value === undefined) return defaultLogger();
  if (typeof value !== 'object' || value === null) throw typeError(`runCluster: logger must be an object with debug/info/warn/error methods, got ${typeof value}`);
  const logger = value as Record<string, unknown>;
  const out = {} as Required<RunnerLogger>;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const method = logger[level];
    if (method !== undefined && typeof method !== 'function') throw typeError(`runCluster: logger.${level} must be a function`);
    out[level] = typeof method === 'function' ? (message: string) => (method as (m: string) => void).call(logger, message) : noop;
  }
  return out;
}

export function resolveClusterOptions(options: unknown): ResolvedClusterOptions {
  const o = checkOptions<ClusterOptions>(options, 'runCluster', CLUSTER_OPTIONS);
  const ms = (value: unknown, name: keyof typeof DEFAULTS, min = 0) => checkInteger(value, `runCluster: ${name}`, min, MAX_MS, DEFAULTS[name]);
  const sticky = o.sticky ?? 'ip';
  if (sticky !== 'ip' && sticky !== 'none' && typeof sticky !== 'function') {
    throw valueError(`runCluster: sticky must be 'ip', 'none' or a function, got ${typeof sticky === 'string' ? `'${sticky}'` : typeof sticky}`);
  }
  const proxyProtocol = checkBoolean(o.proxyProtocol, 'runCluster: proxyProtocol', false);
  if (proxyProtocol && sticky === 'none') {
    throw valueError("runCluster: proxyProtocol needs the primary to read the header: use sticky 'ip' or a function, not 'none'");
  }
  for (const name of ['env', 'errorHandler'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') throw typeError(`runCluster: ${name} must be a function, got ${typeof o[name]}`);
  }
  if (o.cache !== undefined && o.cache !== false && (typeof o.cache !== 'object' || o.cache === null)) {
    throw typeError('runCluster: cache must be setupSharedCache() options or false');
  }
  const signals = o.shutdownSignals ?? ['SIGINT', 'SIGTERM'];
  if (!Array.isArray(signals) || !signals.every((s) => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s))) {
    throw typeError("runCluster: shutdownSignals must be an array of signal names such as 'SIGTERM'");
  }
  const respawnDelay = ms(o.respawnDelay, 'respawnDelay');
  return {
    workers: checkInteger(o.workers, 'runCluster: workers', 1, 1024, os.availableParallelism?.() ?? os.cpus().length),
    port: checkInteger(o.port, 'runCluster: port', 0, 65535, DEFAULTS.port),
    host: o.host === undefined ? undefined : checkString(o.host, 'runCluster: host'),
    ipv6Only: checkBoolean(o.ipv6Only, 'runCluster: ipv6Only', false),
    backlog: o.backlog === undefined ? undefined : checkInteger(o.backlog, 'runCluster: backlog', 1, 0x7fffffff),
    sticky,
    proxyProtocol,
    proxyTimeout: ms(o.proxyTimeout, 'proxyTimeout', 1),
    env: o.env,
    respawn: checkBoolean(o.respawn, 'runCluster: respawn', true),
    respawnDelay,
    maxRespawnDelay: Math.max(respawnDelay, ms(o.maxRespawnDelay, 'maxRespawnDelay')),
    crashLimit: checkInteger(o.crashLimit, 'runCluster: crashLimit', 1, 1_000_000, DEFAULTS.crashLimit),
    crashWindow: ms(o.crashWindow, 'crashWindow', 1),
    hardShutdownDelay: ms(o.hardShutdownDelay, 'hardShutdownDelay'),
    shutdownSignals: signals,
    errorHandler: o.errorHandler,
    logger: resolveLogger(o.logger),
    cache: o.cache ?? {},
  };
}
