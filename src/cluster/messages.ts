/**
 * The messages between the runner's primary and its workers (over the
 * cluster IPC channel, JSON), and the worker index variable. Prefixed so
 * that they never collide with an app's own messages.
 */
import type { ProxiedAddress } from './proxy-protocol';

/** The worker's stable index (0 … workers-1), kept by its replacement. sticky-cluster: `stickycluster_worker_index`. */
export const WORKER_INDEX_ENV = 'TLS_SHM_WORKER_INDEX';
/** How the runner's worker learns its part: listen itself (`none`) or take sockets from the primary (`handoff`). */
export const MODE_ENV = 'TLS_SHM_RUNNER_MODE';
/** Where a `none`-mode worker listens: JSON of { port, host, ipv6Only, backlog }. */
export const LISTEN_ENV = 'TLS_SHM_RUNNER_LISTEN';

/** Worker → primary: init() has returned and the server takes connections. */
export const READY = 'tls-shm-cache:ready';
/** Primary → worker, with a socket: serve it. */
export const CONNECTION = 'tls-shm-cache:connection';
/** Primary → worker: stop taking connections, finish the open ones, exit. */
export const SHUTDOWN = 'tls-shm-cache:shutdown';

export interface ConnectionMessage {
  type: typeof CONNECTION;
  /** Bytes the primary read after the PROXY header (base64): the worker puts them back before its server reads. */
  head?: string;
  /** The client's address from the PROXY header. */
  client?: ProxiedAddress;
}

export function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}
