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

/**
 * The pid of the process that published the handle. The handle is meant for
 * that process's children (cluster workers, or processes it forks itself);
 * a process further down (a child that a worker spawns, which inherits the
 * worker's environment) is not one of them and ignores it (README
 * "Child processes of workers").
 */
export const OWNER_ENV = 'TLS_SHM_CACHE_OWNER_PID';

/** What a worker finds in its environment; undefined when no primary set a cache up. */
export function readClusterEnv(
  env: NodeJS.ProcessEnv = process.env,
): { handle: string; tickets: TicketMode; ownerPid: number | undefined } | undefined {
  const handle = env[HANDLE_ENV];
  if (handle === undefined || handle === '') return undefined;
  const owner = Number(env[OWNER_ENV]);
  return {
    handle,
    tickets: env[TICKETS_ENV] === 'node' ? 'node' : 'shared',
    ownerPid: Number.isInteger(owner) && owner > 0 ? owner : undefined,
  };
}

type EnvName = typeof HANDLE_ENV | typeof TICKETS_ENV | typeof OWNER_ENV;
const ENV_NAMES = [HANDLE_ENV, TICKETS_ENV, OWNER_ENV] as const;

/** What the environment held before writeClusterEnv (a primary nested in another's worker). */
export type PreviousClusterEnv = Record<EnvName, string | undefined>;

/** Publishes the cache to processes forked from now on; returns what it replaced. */
export function writeClusterEnv(handle: string, tickets: TicketMode): PreviousClusterEnv {
  const previous = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]])) as PreviousClusterEnv;
  process.env[HANDLE_ENV] = handle;
  process.env[TICKETS_ENV] = tickets;
  process.env[OWNER_ENV] = String(process.pid);
  return previous;
}

/** Withdraws what writeClusterEnv published, unless someone has replaced it since. */
export function restoreClusterEnv(handle: string, previous: PreviousClusterEnv): void {
  if (process.env[HANDLE_ENV] !== handle) return;
  for (const name of ENV_NAMES) {
    const value = previous[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}
