/**
 * attachSharedCache(server): makes a TLS server resume sessions from the
 * shared cache and follow the cluster's ticket key.
 *
 * Where the cache comes from (the three modes, README "Modes"):
 * 1. cluster: the primary called setupSharedCache(); the worker opens the
 *    segment named in its environment (TLS_SHM_CACHE_HANDLE);
 * 2. single process: not a cluster worker and no handle in the environment:
 *    a private cache is created from `items`, `blocksize`, `timeout`;
 * 3. masterless: `path` given: every process opens (or the first creates) the
 *    file-backed cache, and whichever holds the maintenance lease sweeps and
 *    rotates the ticket key.
 * A cluster worker whose primary set nothing up is an error
 * (ERR_TLS_SHM_NO_PRIMARY), never a silent fall-back to a per-worker cache.
 * A process that is neither a cluster worker nor a child of the process that
 * published the handle (a helper a worker spawns) ignores the inherited
 * handle, with a warning, and gets a private cache.
 * Where the native core cannot run (macOS), modes 2 and 3 use an in-process
 * store (src/core/in-process.ts) and warn once; cluster workers of such a
 * primary each use one of their own.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { readClusterEnv } from './cluster-env';
import { TLS13_SESSIONS_SKIPPED } from '../core/counters';
import { TlsShmCacheError } from '../core/errors';
import { HandshakeCounter } from './handshake-counter';
import { Maintenance } from './maintenance';
import { readSession, TLS1_3_VERSION } from './session-der';
import { DEFAULT_NAMESPACE, SESSION_ID_BYTES, sessionKeys } from './session-key';
import { isInProcessHandle } from '../core/in-process';
import { warnOnce } from '../core/warnings';
import {
  applySessionIdContext,
  certificateDigest,
  nodeDefaultSessionIdContext,
  sharedSessionIdContext,
  usesNodeDefault,
} from './session-id-context';
import { SharedCache } from '../core/shared-cache';
import { startStatsServer, StatsServer } from '../stats/server';
import { followTicketKeys } from './ticket-keys';
import {
  MAINTAINED_CACHE_OPTIONS,
  MaintainedCacheOptions,
  ResolvedCacheOptions,
  resolveCacheOptions,
} from './options';
import { createCacheAdapting } from './own-cache';
import { acquireSegment, AttachedSegment, peekSegment, releaseSegment } from './attached-segments';
import { CONTEXT_SEED_ENV, RemoteTierHandle, startRemoteTier } from './remote-hook';
import { checkOptions, rangeError, typeError, valueError } from '../core/validate';

/** Options of {@link attachSharedCache}. */
export interface AttachOptions extends MaintainedCacheOptions {
  /**
   * Keeps the sessions of this server apart from those of other servers on
   * the same cache (default `'default'`): keys in another namespace are
   * prefixed with it (the default namespace's keys are the bare 32-byte session
   * IDs, which save blocks; session-key.ts), and it is
   * part of the session ID context, so neither a cached session nor a ticket
   * of one namespace resumes on another. At most 31 bytes (UTF-8). Two servers
   * of one process cannot share a namespace (ERR_TLS_SHM_NAMESPACE_IN_USE).
   *
   * The other options (`items`, `blocksize`, `timeout`, `sweepInterval`,
   * `tickets`, `path`, `stats`) shape the cache when this process makes it
   * (single-process and masterless modes). In a cluster worker the primary's
   * setupSharedCache() options apply: sizes given here that differ from the
   * primary's are named in one warning (TLS_SHM_WORKER_OPTIONS_IGNORED).
   */
  namespace?: string;
}

/** What attachSharedCache returns. */
export interface Attachment {
  /** The cache the server uses. */
  readonly cache: SharedCache;
  /** The namespace of this server's sessions. */
  readonly namespace: string;
  /** How the cache was found: the primary's, a private one, or the masterless file. */
  readonly mode: 'cluster' | 'private' | 'masterless';
  /** The statistics URL while this process serves them (`stats` option, modes 2 and 3), else undefined. */
  readonly statsUrl: Promise<string> | undefined;
  /**
   * Removes the listeners, restores the server's setSecureContext and session
   * ID context, frees the namespace, and closes the cache when no other
   * server of this process uses it (a private cache is then removed).
   */
  detach(): void;
}

const ATTACH_OPTIONS = ['namespace', ...MAINTAINED_CACHE_OPTIONS] as const;
/**
 * Keys are the session ID, or `namespace \0 sessionId` outside the default
 * namespace (session-key.ts); the cache's keys are at most 64 bytes
 * (SharedCache's default maxKeyLength).
 */
const MAX_NAMESPACE_BYTES = 64 - 1 - SESSION_ID_BYTES;

/** Namespaces attached in this process, and by which server. */
const namespacesInUse = new Map<string, tls.Server>();
const attachments = new WeakMap<tls.Server, Attachment>();
let privateSegments = 0;

/**
 * Shares TLS sessions and the cluster's ticket key with the other processes
 * of the cluster (or creates a private cache in a single process, or joins a
 * masterless file-backed cache with `path`).
 *
 * Installs 'newSession' / 'resumeSession' listeners that use the cache
 * synchronously, skips TLS 1.3 sessions (no store can resume them in Node),
 * keeps the server's ticket key equal to the cluster's, makes the session ID
 * context equal across processes (see session-id-context.ts), and counts
 * handshakes by protocol version and outcome.
 *
 * @param server a `tls.Server`, `https.Server` or `http2.createSecureServer()`
 *   server, attached before or after listen().
 * @throws TlsShmCacheError ERR_TLS_SHM_NO_PRIMARY in a cluster worker whose
 *   primary did not call setupSharedCache() before forking it;
 *   ERR_TLS_SHM_NAMESPACE_IN_USE when another server of this process uses
 *   the namespace; the cache's own codes when the segment cannot be opened.
 * @throws TypeError / RangeError for a wrong server or option.
 */
export function attachSharedCache(server: tls.Server, options?: AttachOptions): Attachment {
  if (!(server instanceof tls.Server)) {
    throw typeError(`attachSharedCache: server must be a tls.Server, https.Server or http2 secure server; ${describeNotTls(server)}`);
  }
  const o = checkOptions<AttachOptions>(options, 'attachSharedCache', ATTACH_OPTIONS);
  const namespace = resolveNamespace(o.namespace);
  const resolved = resolveCacheOptions(o, 'attachSharedCache');

  if (attachments.has(server)) {
    throw valueError(`attachSharedCache: this server is already attached (namespace '${attachments.get(server)!.namespace}'); detach() it first`);
  }
  // A second 'resumeSession' listener would call back twice, and Node destroys
  // the socket on that (ERR_MULTIPLE_CALLBACK). Extra 'newSession' listeners are
  // harmless (its callback may be called more than once), so they are allowed.
  if (server.listenerCount('resumeSession') > 0) {
    throw valueError("attachSharedCache: the server already has a 'resumeSession' listener (another session store?); " +
          'both would answer the handshake. Remove it first.',);
  }
  const holder = namespacesInUse.get(namespace);
  if (holder) {
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_NAMESPACE_IN_USE',
      `attachSharedCache: namespace '${namespace}' is already used by another server of this process; ` +
        "give each server its own, e.g. attachSharedCache(server, { namespace: 'api' })",
    );
  }

  const source = findSegment(resolved, o);
  let attachment: Attachment;
  try {
    attachment = install(server, namespace, source);
  } catch (error) {
    releaseSegment(source.key);
    throw error;
  }
  namespacesInUse.set(namespace, server);
  attachments.set(server, attachment);
  return attachment;
}

/** What was passed instead of a TLS server, and what to pass. */
function describeNotTls(value: unknown): string {
  const pass = 'pass the server that terminates TLS, e.g. https.createServer({ key, cert }, app)';
  if (value === null || value === undefined) return `got ${value}; ${pass}`;
  if (typeof value === 'function' && typeof (value as { use?: unknown }).use === 'function' && typeof (value as { handle?: unknown }).handle === 'function') {
    return `got an express (or connect) app, a request handler with no TLS; ${pass}, and attachSharedCache() that server`;
  }
  if (value instanceof http.Server) {
    return `got an http.Server (plain HTTP: no TLS sessions to share); create it with https.createServer({ key, cert }, handler) instead`;
  }
  if (value instanceof net.Server) return `got a net.Server (plain TCP); use tls.createServer({ key, cert }) or ${pass}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return `got ${name && name !== 'Object' ? `an instance of ${name}` : 'a plain object'}; ${pass}`;
  }
  return `got ${typeof value}; ${pass}`;
}

function resolveNamespace(value: unknown): string {
  if (value === undefined) return DEFAULT_NAMESPACE;
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) {
    throw typeError(`attachSharedCache: namespace must be a non-empty string without NUL bytes, got ${typeof value === 'string' ? `'${value}'` : typeof value}`);
  }
  if (Buffer.from(value).toString('utf8') !== value) {
    // A lone surrogate becomes U+FFFD in UTF-8: two such names would share keys.
    throw typeError('attachSharedCache: namespace must be well-formed Unicode (it has a lone surrogate)');
  }
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_NAMESPACE_BYTES) {
    throw rangeError(`attachSharedCache: namespace must be at most ${MAX_NAMESPACE_BYTES} bytes (UTF-8), got ${bytes}`);
  }
  return value;
}

/** The segment a server attaches to, as decided by the mode. */
interface SegmentSource {
  key: string;
  segment: AttachedSegment;
  mode: Attachment['mode'];
  /** Whether servers follow the cluster ticket key (false: Node's own keys stay). */
  sharedTickets: boolean;
  /** The longest a session is kept, in seconds. */
  maxTtl: number;
  /**
   * What the session ID context is derived from besides namespace and
   * certificates: equal in every process that shares the sessions (default:
   * the segment's creation time, from its header; a fleet-wide seed when the
   * cache is shared across hosts; the primary's handle for in-process stores).
   */
  contextSeed?: string;
}

function findSegment(o: ResolvedCacheOptions, given: AttachOptions): SegmentSource {
  let env = readClusterEnv();
  if (env && !cluster.isWorker && env.ownerPid !== undefined && env.ownerPid !== process.ppid && env.ownerPid !== process.pid) {
    // Choice (README "Child processes of workers"): the handle is for the
    // publisher's own children. A process spawned by a worker inherited it
    // with the rest of the worker's environment; it is not one of the
    // cluster's servers, so it does not join the primary's cache by accident.
    warnOnce(
      'TLS_SHM_INHERITED_HANDLE_IGNORED',
      `tls-shm-cache: this process (pid ${process.pid}) inherited TLS_SHM_CACHE_HANDLE from process ${process.ppid}, ` +
        `but the cache belongs to process ${env.ownerPid}, which is not its parent: it is ignored and this process ` +
        'uses a cache of its own. To share sessions with other processes, give every one the same { path }.',
    );
    env = undefined;
  }

  if (o.path !== undefined) {
    const key = `file:${o.path}`;
    if (env && env.handle !== key && !isInProcessHandle(env.handle)) {
      throw valueError(`attachSharedCache: path ${o.path} is not the cache the primary set up (${env.handle}); ` +
            'pass no path in cluster workers, or the same path as setupSharedCache()',);
    }
    const asked = peekSegment(key) && askedGeometry.get(key);
    if (asked) checkSameGeometry(asked, o);
    return ownSegment(key, 'masterless', o);
  }

  if (env && isInProcessHandle(env.handle)) {
    // The primary runs where the native core cannot (it warned that sessions
    // are not shared): each worker keeps its own store and Node's own ticket
    // keys, which the cluster module at least shares between workers that
    // listen on one port.
    // (The primary has warned; no second warning per worker.)
    // The context comes from the primary's handle, equal in every worker, so
    // that the tickets Node's cluster-shared key seals resume on any worker.
    return {
      ...ownSegment(`private:${++privateSegments}`, 'private', { ...o, rotateMs: null }, true),
      sharedTickets: false,
      contextSeed: env.handle,
    };
  }

  if (env) {
    const segment = acquireSegment(env.handle, () => {
      const cache = openPrimaryCache(env.handle);
      return { cache, statsUrl: () => undefined, stop: () => undefined };
    });
    const s = segment.cache.stats();
    warnIfWorkerOptionsDiffer(given, o, s);
    const contextSeed = process.env[CONTEXT_SEED_ENV] || undefined;
    return { key: env.handle, segment, mode: 'cluster', sharedTickets: env.tickets === 'shared', maxTtl: s.timeout, contextSeed };
  }

  if (cluster.isWorker) {
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_NO_PRIMARY',
      'attachSharedCache: this cluster worker found no shared cache in its environment (TLS_SHM_CACHE_HANDLE). ' +
        'Call setupSharedCache() in the primary before cluster.fork(); ' +
        'if no primary of yours runs (PM2 cluster mode), pass the same { path } to attachSharedCache in every process.',
    );
  }

  return ownSegment(`private:${++privateSegments}`, 'private', o);
}

/** Sizing options given in a cluster worker are the primary's to choose: say so once when they differ. */
function warnIfWorkerOptionsDiffer(given: AttachOptions, o: ResolvedCacheOptions, s: { items: number; blocksize: number; timeout: number }): void {
  const differ = (['items', 'blocksize', 'timeout'] as const).filter((name) => given[name] !== undefined && o[name] !== s[name]);
  if (differ.length === 0) return;
  warnOnce(
    'TLS_SHM_WORKER_OPTIONS_IGNORED',
    `tls-shm-cache: attachSharedCache in a cluster worker was given ${differ.map((n) => `${n}=${o[n]}`).join(', ')}, ` +
      `but the primary's cache has ${differ.map((n) => `${n}=${s[n]}`).join(', ')}, which apply: ` +
      'in a cluster, pass sizing options to setupSharedCache() in the primary.',
  );
}

/** The geometry each masterless file was asked for by the first server of this process that opened it. */
const askedGeometry = new Map<string, { items: number; blocksize: number }>();

/** A segment this process makes (private) or opens-or-creates (masterless), and maintains itself. */
function ownSegment(key: string, mode: 'private' | 'masterless', o: ResolvedCacheOptions, inProcess = false): SegmentSource {
  const fresh = peekSegment(key) === undefined;
  const segment = acquireSegment(key, () =>
    openMaintained(
      inProcess ? SharedCache.createInProcess({ items: o.items, blocksize: o.blocksize, blocks: o.blocks, maxValueBytes: o.maxValueBytes, timeout: o.timeout }) : createOwnCache(mode, o),
      o,
    ),
  );
  if (fresh && mode === 'masterless') askedGeometry.set(key, { items: o.items, blocksize: o.blocksize });
  // In-process fallback or not, the keys rotate as asked (same behaviour on a laptop as in production).
  return { key, segment, mode, sharedTickets: o.rotateMs !== null || o.ticketKeys !== undefined, maxTtl: o.timeout, contextSeed: segment.contextSeed };
}

function createOwnCache(mode: 'private' | 'masterless', o: ResolvedCacheOptions): SharedCache {
  try {
    return createCacheAdapting(o);
  } catch (error) {
    if (!(error instanceof TlsShmCacheError) || error.code !== 'ERR_TLS_SHM_PLATFORM') throw error;
    // Choice (README "Platforms"): a laptop runs the production code unchanged,
    // with a store in this process's memory that behaves the same but shares nothing.
    warnOnce(
      'TLS_SHM_IN_PROCESS',
      `tls-shm-cache: ${error.message}. Using an in-process session store instead: sessions, ticket rotation and ` +
        `statistics work, but nothing is shared with other processes${mode === 'masterless' ? ` (${o.path} is not used)` : ''}.`,
    );
    return SharedCache.createInProcess({ items: o.items, blocksize: o.blocksize, blocks: o.blocks, maxValueBytes: o.maxValueBytes, timeout: o.timeout });
  }
}

function openPrimaryCache(handle: string): SharedCache {
  try {
    return SharedCache.open(handle);
  } catch (error) {
    if (error instanceof TlsShmCacheError) {
      throw new TlsShmCacheError(
        error.code,
        `attachSharedCache: cannot open the cache the primary set up (TLS_SHM_CACHE_HANDLE=${handle}): ${error.message}. ` +
          'Has the primary closed it or exited? Workers must be forked by the process that called setupSharedCache().',
        { cause: error },
      );
    }
    throw error;
  }
}

function checkSameGeometry(s: { items: number; blocksize: number }, o: ResolvedCacheOptions): void {
  if (s.items !== o.items || s.blocksize !== o.blocksize) {
    throw new TlsShmCacheError(
      'ERR_TLS_SHM_GEOMETRY',
      `attachSharedCache: ${o.path} is already attached in this process with items=${s.items}, blocksize=${s.blocksize}; ` +
        `asked for items=${o.items}, blocksize=${o.blocksize}`,
    );
  }
}

/** A cache this process maintains (with the others, under the lease): sweeps, rotation, stats while holding. */
function openMaintained(cache: SharedCache, o: ResolvedCacheOptions): AttachedSegment {
  let stats: StatsServer | undefined;
  let remoteOf: RemoteTierHandle | undefined;
  const statsOptions = o.stats;
  const onLeaseChange = (holding: boolean) => {
    if (!statsOptions) return;
    if (holding && !stats) {
      stats = startStatsServer(() => (remoteOf ? { ...cache.stats(), remote: remoteOf.stats() } : cache.stats()), statsOptions);
      stats.ready.catch((error: Error) =>
        warnOnce('TLS_SHM_STATS_LISTEN', `tls-shm-cache: the stats server could not listen: ${error.message}`),
      );
    } else if (!holding && stats) {
      void stats.close();
      stats = undefined;
    }
  };
  let maintenance: Maintenance | undefined;
  let remote: RemoteTierHandle | undefined;
  try {
    // With `remote` the fleet's ring in Redis decides the keys after the first: no local rotation.
    const rotateMs = o.remote && o.rotateMs !== null ? Infinity : o.rotateMs;
    maintenance = new Maintenance(cache, { sweepIntervalMs: o.sweepIntervalMs, rotateMs, ticketKeys: o.ticketKeys, onLeaseChange }).start();
    const m = maintenance;
    if (o.remote) {
      // Only the lease holder of this host talks to Redis; the others stand by.
      remote = startRemoteTier(o.remote, { cache, timeoutMs: o.timeout * 1000, rotateMs: o.rotateMs, active: () => m.holding, where: 'attachSharedCache' });
      remoteOf = remote;
    }
  } catch (error) {
    maintenance?.stop();
    void remote?.close();
    cache.close();
    throw error;
  }
  const m = maintenance;
  return {
    cache,
    maintenance: m,
    contextSeed: remote?.contextSeed,
    statsUrl: () => stats?.ready,
    stop: () => {
      m.stop();
      void remote?.close();
    },
  };
}

type SetSecureContext = (this: tls.Server, options: tls.SecureContextOptions) => void;

/** Sessions larger than maxValueBytes are not shared; say it once, with a maxValueBytes that fits. */
function warnTooLarge(bytes: number, maxValueBytes: number): void {
  let fits = 256;
  while (fits < bytes) fits *= 2;
  warnOnce(
    'TLS_SHM_SESSION_TOO_LARGE',
    `tls-shm-cache: a TLS session of ${bytes} bytes does not fit in maxValueBytes ${maxValueBytes} and is not shared ` +
      `(counted as tooLarge; clients presenting certificates make larger sessions). maxValueBytes: ${fits} would fit it ` +
      '(setupSharedCache() in a cluster, attachSharedCache() otherwise).',
  );
}

function install(server: tls.Server, namespace: string, source: SegmentSource): Attachment {
  const { cache } = source.segment;
  const counter = new HandshakeCounter(cache);
  // The ticket key ring: the callback, or one key where the runtime lacks it (ticket-keys.ts).
  const follower = source.sharedTickets ? followTicketKeys(server, cache) : undefined;

  // Session ID context: equal in every process of this namespace serving
  // these certificates, different under any other certificate (session-id-context.ts).
  const managesContext = usesNodeDefault(server);
  const createdAt = source.contextSeed ?? String(cache.stats().createdAt);
  let sharedContext = sharedSessionIdContext(namespace, createdAt, certificateDigest(server));
  if (managesContext) applySessionIdContext(server, sharedContext);
  const maxValueBytes = cache.stats().maxValueBytes;

  // Keys come from one scratch buffer (session-key.ts): the cache copies the
  // key before returning, and both listeners run synchronously. An ID no key
  // is made for (not 32 bytes) is neither stored nor looked up.
  const keyOf = sessionKeys(namespace);

  // A failing cache must never fail a handshake: the session is simply not shared.
  const warnFailed = (error: unknown) =>
    warnOnce('TLS_SHM_CACHE_FAILED', `tls-shm-cache: ${(error as Error).message} (the handshake went on without the cache)`);

  const onNewSession = (id: Buffer, data: Buffer, done: () => void) => {
    try {
      const facts = readSession(data);
      if (facts?.protocolVersion === TLS1_3_VERSION) {
        // Node resumes TLS 1.3 only from tickets (DESIGN.md): a stored one would never be read.
        cache.count(TLS13_SESSIONS_SKIPPED);
      } else {
        // OpenSSL refuses a session past its own timeout (in the session: the
        // server's sessionTimeout, or OpenSSL's 7200 s when none is set, not
        // the 300 s Node documents): keep it no longer than that, nor than ours.
        const sessionTimeout =
          facts?.timeoutSeconds ?? (server as tls.Server & { sessionTimeout?: number }).sessionTimeout ?? source.maxTtl;
        const ttl = Math.min(sessionTimeout, source.maxTtl);
        const key = keyOf(id);
        if (key && ttl > 0 && !cache.set(key, data, ttl) && data.length > maxValueBytes) warnTooLarge(data.length, maxValueBytes);
      }
    } catch (error) {
      warnFailed(error);
    }
    done();
  };

  const onResumeSession = (id: Buffer, done: (error: Error | null, data: Buffer | null) => void) => {
    let data: Buffer | undefined;
    try {
      const key = keyOf(id);
      data = key && cache.get(key);
    } catch (error) {
      warnFailed(error);
    }
    if (data) counter.noteHit(id);
    done(null, data ?? null);
  };

  const onSecureConnection = (socket: tls.TLSSocket) => {
    try {
      counter.count(socket);
    } catch (error) {
      warnFailed(error);
    }
  };

  // Before Node's own connection listener: the key must be current before the ClientHello is read.
  // A failing key refresh must not fail the connection: warn once and go on.
  const syncKey = (force: boolean) => {
    try {
      follower?.sync(force);
    } catch (error) {
      warnFailed(error);
    }
  };
  const onConnection = () => syncKey(false);
  // The cluster module has just replaced the key with the first worker's (see ticket-keys.ts).
  const onListening = () => syncKey(true);

  // setSecureContext() builds a new context: Node's argv session ID context
  // and a random ticket key come back unless we put ours in again.
  const ownSetSecureContext = Object.prototype.hasOwnProperty.call(server, 'setSecureContext');
  const originalSetSecureContext = server.setSecureContext as SetSecureContext;
  const wrappedSetSecureContext: SetSecureContext = function (this: tls.Server, options) {
    const ours = managesContext && options !== null && typeof options === 'object' && !options.sessionIdContext;
    originalSetSecureContext.call(this, options);
    if (ours) {
      // Derived again from the certificates now served: after a certificate
      // change, sessions and tickets made under the old one do not resume.
      sharedContext = sharedSessionIdContext(namespace, createdAt, certificateDigest(this));
      applySessionIdContext(this, sharedContext);
    }
    syncKey(true);
  };

  server.on('newSession', onNewSession);
  server.on('resumeSession', onResumeSession);
  server.on('secureConnection', onSecureConnection);
  server.prependListener('connection', onConnection);
  server.on('listening', onListening);
  server.setSecureContext = wrappedSetSecureContext;

  let detached = false;
  return {
    cache,
    namespace,
    mode: source.mode,
    get statsUrl() {
      return source.segment.statsUrl();
    },
    detach() {
      if (detached) return;
      detached = true;
      server.off('newSession', onNewSession);
      server.off('resumeSession', onResumeSession);
      server.off('secureConnection', onSecureConnection);
      server.off('connection', onConnection);
      server.off('listening', onListening);
      if (server.setSecureContext === wrappedSetSecureContext) {
        if (ownSetSecureContext) server.setSecureContext = originalSetSecureContext;
        else delete (server as Partial<tls.Server>).setSecureContext;
      }
      if (managesContext && (server as tls.Server & { sessionIdContext?: string }).sessionIdContext === sharedContext) {
        applySessionIdContext(server, nodeDefaultSessionIdContext());
      }
      follower?.stop();
      namespacesInUse.delete(namespace);
      attachments.delete(server);
      releaseSegment(source.key);
    },
  };
}
