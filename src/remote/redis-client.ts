/**
 * node-redis, loaded only when a `remote` option is given (it is an optional
 * peer dependency: hosts that never share across the network need not install
 * it), and the two connections a host opens: one for writes and one for the
 * blocking stream read (a blocked connection can do nothing else).
 *
 * Both reconnect forever with jittered exponential backoff (100 ms doubling to
 * 5 s, each wait drawn from [50 %, 100 %] so that a fleet does not reconnect
 * in step), and node-redis's offline queue is off: a command issued while Redis
 * is away fails at once instead of piling up; the tier keeps its own bounded
 * backlog.
 */
import { TlsShmCacheError } from '../core/errors';

/** The part of a node-redis client the tier uses. */
export interface RedisConnection {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  duplicate(): RedisConnection;
  on(event: 'error' | 'ready' | 'end' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
  destroy?(): void;
  disconnect?(): Promise<void>;
  quit?(): Promise<unknown>;
  withTypeMapping?(mapping: Record<number, unknown>): RedisConnection;
}

interface RedisModule {
  createClient(options: Record<string, unknown>): RedisConnection;
  RESP_TYPES?: Record<string, number>;
}

let loaded: RedisModule | undefined;

/** Loads the `redis` package; a clear error names it when it is missing. */
export function loadRedis(where: string): RedisModule {
  if (loaded) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('redis') as RedisModule;
  } catch (error) {
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_REMOTE_CLIENT',
      `${where}: the remote option needs the 'redis' package (node-redis, v4 or later): npm install redis`,
      { cause: error },
    );
  }
  return loaded;
}

/** Milliseconds before reconnection attempt `retries` (0, 1, …): 100 ms doubling to 5 s, jittered. */
export function backoffMs(retries: number): number {
  const ceiling = Math.min(5000, 100 * 2 ** Math.min(retries, 10));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

/** Creates (does not connect) the writing connection; the reader is its duplicate. Replies carry Buffers. */
export function createConnection(module: RedisModule, url: string, extra: Record<string, unknown>): RedisConnection {
  const socket = { ...((extra.socket as Record<string, unknown> | undefined) ?? {}), reconnectStrategy: backoffMs };
  const client = module.createClient({ ...extra, url, socket, disableOfflineQueue: true });
  const blob = module.RESP_TYPES?.BLOB_STRING;
  // Session payloads are binary: ask for Buffers (node-redis v5+; v4 returns strings unless told per command).
  return blob !== undefined && typeof client.withTypeMapping === 'function' ? client.withTypeMapping({ [blob]: Buffer }) : client;
}

/** Closes a connection without waiting for Redis (which may be gone). */
export function closeConnection(c: RedisConnection): void {
  try {
    if (typeof c.destroy === 'function') c.destroy();
    else void c.disconnect?.().catch(() => undefined);
  } catch {
    // already closed
  }
}
