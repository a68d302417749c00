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

/** A node-redis Sentinel client: the same, except that sendCommand takes an isReadonly flag first. */
interface SentinelClient {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand(isReadonly: boolean, args: (string | Buffer)[]): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  destroy(): Promise<void>;
  withTypeMapping?(mapping: Record<number, unknown>): SentinelClient;
}

interface RedisModule {
  createClient(options: Record<string, unknown>): RedisConnection;
  createSentinel?(options: Record<string, unknown>): SentinelClient;
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

/**
 * Creates (does not connect) one connection. Replies carry Buffers. With
 * `sentinel` (node-redis createSentinel options: `name`, `sentinelRootNodes`,
 * …) the master is found through Sentinel and followed across failovers;
 * `extra` then becomes the options of the connections to the Redis nodes.
 */
export function createConnection(
  module: RedisModule,
  url: string | undefined,
  extra: Record<string, unknown>,
  sentinel?: Record<string, unknown>,
): RedisConnection {
  const socket = { ...((extra.socket as Record<string, unknown> | undefined) ?? {}), reconnectStrategy: backoffMs };
  if (sentinel) {
    if (typeof module.createSentinel !== 'function') {
      throw new TlsShmCacheError('ERR_TLS_SHM_REMOTE_CLIENT', "remote.sentinel needs node-redis v5 or later (createSentinel): npm install redis@latest");
    }
    const nodeClientOptions = { ...((sentinel.nodeClientOptions as Record<string, unknown> | undefined) ?? {}), ...extra, socket, disableOfflineQueue: true };
    let s = module.createSentinel({ ...sentinel, nodeClientOptions });
    const blob = module.RESP_TYPES?.BLOB_STRING;
    if (blob !== undefined && typeof s.withTypeMapping === 'function') s = s.withTypeMapping({ [blob]: Buffer });
    const client = s;
    const adapted: RedisConnection = {
      get isReady() {
        return client.isReady;
      },
      connect: () => client.connect(),
      // Every command here writes or blocks: send them to the master.
      sendCommand: (args) => client.sendCommand(false, args),
      duplicate: () => createConnection(module, url, extra, sentinel),
      on: (event, listener) => client.on(event, listener),
      destroy: () => void client.destroy().catch(() => undefined),
    };
    return adapted;
  }
  const client = module.createClient({ ...extra, ...(url === undefined ? {} : { url }), socket, disableOfflineQueue: true });
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
