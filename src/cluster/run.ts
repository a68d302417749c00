/**
 * runCluster(init, options): one call for a sticky cluster with shared TLS
 * sessions. The same script runs in the primary and in every worker (as
 * with sticky-cluster): the primary part sets up the cache, forks and
 * routes; the worker part calls init() for its server.
 */
import cluster from 'node:cluster';
import { resolveClusterOptions } from './options';
import type { ClusterOptions } from './options';
import { runPrimary } from './primary';
import type { ClusterPrimary } from './primary';
import { runWorker } from './worker';
import type { ClusterWorker, InitFunction } from './worker';
import { typeError } from '../core/validate';

/**
 * Runs `init`'s server on `options.workers` processes behind one port.
 *
 * In the primary: sets up the shared cache (setupSharedCache(options.cache)),
 * forks the workers (each with TLS_SHM_WORKER_INDEX), listens, and routes
 * every connection to a worker: by the client's address (rendezvous hashing
 * over the live workers; from the PROXY header with `proxyProtocol`), by
 * your `sticky` function, or, with `sticky: 'none'`, by Node's round-robin.
 * Resolves once every worker is ready and the port listens.
 *
 * In a worker: calls `init({ index })` (it may return a promise), attaches
 * the shared cache to a TLS server (tls, https, http2 secure), and serves
 * the connections the primary hands it. Do not call `listen()` on the
 * server. Resolves once the worker takes connections.
 *
 * @example
 *   runCluster(() => https.createServer({ key, cert }, app), { port: 443, workers: 4 });
 *
 * @throws (rejects) TypeError / RangeError for a wrong option; the listen
 *   error (EADDRINUSE) in the primary; TlsShmCacheError
 *   ERR_TLS_SHM_CRASH_LOOP when workers keep dying before they are ready;
 *   in a worker, whatever init() throws (the worker then exits and is
 *   respawned).
 */
export async function runCluster(init: InitFunction, options?: ClusterOptions): Promise<ClusterPrimary | ClusterWorker> {
  if (typeof init !== 'function') throw typeError(`runCluster: init must be a function returning the server, got ${init === null ? 'null' : typeof init}`);
  const o = resolveClusterOptions(options);
  if (cluster.isPrimary) return runPrimary(o);
  try {
    return await runWorker(init, o);
  } catch (error) {
    // A worker that cannot serve must not linger: the primary counts the exit and respawns or stops.
    o.logger.error(`worker ${process.env.TLS_SHM_WORKER_INDEX} failed to start: ${(error as Error)?.stack ?? error}`);
    process.exit(1);
  }
}
