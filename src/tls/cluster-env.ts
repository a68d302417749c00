/**
 * How a cluster primary tells its workers where the cache is: two environment
 * variables, because `cluster.fork()` (and child_process.fork) copy the
 * primary's environment into every worker, including workers forked long after
 * setup (replacements of crashed ones), with no message to lose or to wait for.
 */

/** The handle of the primary's segment (`shm:/…` or `file:/…`), for SharedCache.open. */
export const HANDLE_ENV = 'TLS_SHM_CACHE_HANDLE';

/**
 * Who owns the servers' ticket keys: `shared` (the cluster key in the segment,
 * the default) or `node` (the primary was set up with `tickets: false`; workers
 * leave Node's keys alone even if the segment holds a key from an earlier run
 * of a file-backed cache).
 */
export const TICKETS_ENV = 'TLS_SHM_CACHE_TICKETS';

export type TicketMode = 'shared' | 'node';

/** What a worker finds in its environment; undefined when no primary set a cache up. */
export function readClusterEnv(env: NodeJS.ProcessEnv = process.env): { handle: string; tickets: TicketMode } | undefined {
  const handle = env[HANDLE_ENV];
  if (handle === undefined || handle === '') return undefined;
  return { handle, tickets: env[TICKETS_ENV] === 'node' ? 'node' : 'shared' };
}

/** What the environment held before writeClusterEnv (a primary nested in another's worker). */
export type PreviousClusterEnv = Record<typeof HANDLE_ENV | typeof TICKETS_ENV, string | undefined>;

/** Publishes the cache to processes forked from now on; returns what it replaced. */
export function writeClusterEnv(handle: string, tickets: TicketMode): PreviousClusterEnv {
  const previous = { [HANDLE_ENV]: process.env[HANDLE_ENV], [TICKETS_ENV]: process.env[TICKETS_ENV] } as PreviousClusterEnv;
  process.env[HANDLE_ENV] = handle;
  process.env[TICKETS_ENV] = tickets;
  return previous;
}

/** Withdraws what writeClusterEnv published, unless someone has replaced it since. */
export function restoreClusterEnv(handle: string, previous: PreviousClusterEnv): void {
  if (process.env[HANDLE_ENV] !== handle) return;
  for (const name of [HANDLE_ENV, TICKETS_ENV] as const) {
    const value = previous[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}
