/**
 * The primary's part of runCluster(): set the shared cache up, fork the
 * workers with stable indexes, accept connections (pauseOnConnect: no TLS
 * byte is read here), read a PROXY header when asked, route by rendezvous
 * hashing over the live workers, respawn crashed workers with backoff, stop
 * a crash loop, and shut everything down gracefully.
 */
import cluster, { Worker } from 'node:cluster';
import net from 'node:net';
import { TlsShmCacheError } from '../core/errors';
import { setupSharedCache } from '../tls/primary';
import type { SharedCacheSetup } from '../tls/primary';
import { CONNECTION, ConnectionMessage, isMessage, LISTEN_ENV, MODE_ENV, READY, SHUTDOWN, WORKER_INDEX_ENV } from './messages';
import type { ResolvedClusterOptions } from './options';
import { parseProxyHeader, ProxiedAddress, V2_MAX_LENGTH } from './proxy-protocol';
import { Rendezvous, routingAddress } from './rendezvous';

/** Connections held while no worker is ready; more are closed. */
const MAX_WAITING = 1024;

/** One worker index and the process that currently holds it. */
interface Slot {
  index: number;
  worker: Worker | undefined;
  /** The worker has called back from init() and takes connections. */
  ready: boolean;
  /** When this index's workers crashed, within crashWindow. */
  crashes: number[];
  respawnTimer: NodeJS.Timeout | undefined;
}

/** What runCluster() resolves to in the primary. */
export interface ClusterPrimary {
  role: 'primary';
  /** Where the cluster listens (the port chosen when `port` was 0). */
  address: net.AddressInfo;
  /** The shared cache, unless `cache: false`. */
  shared: SharedCacheSetup | undefined;
  /** The live workers by index: pid and whether each takes connections. */
  workers(): { index: number; pid: number | undefined; ready: boolean }[];
  /**
   * Graceful shutdown: stop accepting, let workers finish their open
   * connections, kill those still running after `hardShutdownDelay`, close
   * the shared cache (its /dev/shm segment is removed). Idempotent.
   */
  close(): Promise<void>;
  /**
   * Settles when the runner has stopped: resolves after close(), rejects
   * with ERR_TLS_SHM_CRASH_LOOP when a worker kept crashing (the runner has
   * shut down by then). Unobserved, that rejection ends the process with the
   * error, which is the point.
   */
  done: Promise<void>;
}

export async function runPrimary(o: ResolvedClusterOptions): Promise<ClusterPrimary> {
  const log = o.logger;
  const shared = o.cache === false ? undefined : setupSharedCache(o.cache);
  const rendezvous = new Rendezvous();
  const slots: Slot[] = Array.from({ length: o.workers }, (_, index) => ({ index, worker: undefined, ready: false, crashes: [], respawnTimer: undefined }));
  const mode = o.sticky === 'none' ? 'none' : 'handoff';
  let closing: Promise<void> | undefined;
  let front: net.Server | undefined;
  let address: net.AddressInfo | undefined;
  let roundRobin = 0;
  let resolveDone!: () => void;
  let rejectDone!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  /** Settles startup: all workers ready (and listening), or a failure. */
  let startup: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const started = new Promise<void>((resolve, reject) => (startup = { resolve, reject }));

  // --- workers -------------------------------------------------------------
  const fork = (slot: Slot) => {
    slot.respawnTimer = undefined;
    const extra = o.env?.(slot.index) ?? {};
    const env: Record<string, string> = { [MODE_ENV]: mode };
    for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = String(value);
    env[WORKER_INDEX_ENV] = String(slot.index);
    // Port 0 as given: Node's cluster hands every worker that listens on
    // (host, 0) the same handle, so all share the port the first one got.
    if (mode === 'none') env[LISTEN_ENV] = JSON.stringify({ port: o.port, host: o.host, ipv6Only: o.ipv6Only, backlog: o.backlog });
    const worker = cluster.fork(env);
    slot.worker = worker;
    slot.ready = false;
    log.info(`worker ${slot.index} forked (pid ${worker.process.pid})`);
    worker.on('message', (message: unknown) => {
      if (!isMessage(message, READY) || slot.worker !== worker) return;
      slot.ready = true;
      log.info(`worker ${slot.index} ready (pid ${worker.process.pid})`);
      if (slots.every((s) => s.ready)) startup?.resolve();
      flushWaiting();
    });
    worker.on('listening', (where: { address: string | null; port: number; addressType: number | string }) => {
      if (mode === 'none' && !address) address = { address: where.address ?? (where.addressType === 6 ? '::' : '0.0.0.0'), port: where.port, family: where.addressType === 6 ? 'IPv6' : 'IPv4' };
    });
    worker.on('exit', (code, signal) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      slot.ready = false;
      if (closing) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      const now = Date.now();
      slot.crashes = slot.crashes.filter((at) => now - at < o.crashWindow);
      slot.crashes.push(now);
      if (!o.respawn) {
        log.warn(`worker ${slot.index} (pid ${worker.process.pid}) exited with ${how}; respawn is off`);
        return;
      }
      if (slot.crashes.length >= o.crashLimit) {
        const error = new TlsShmCacheError(
          'ERR_TLS_SHM_CRASH_LOOP',
          `runCluster: worker ${slot.index} exited ${slot.crashes.length} times within ${o.crashWindow} ms (last: ${how}); ` +
            'stopping the cluster instead of respawning it forever. Look at the worker\'s output for the cause (init() throwing?).',
        );
        log.error(error.message);
        void shutdown().then(() => {
          if (startup) {
            // runCluster() itself rejects: nobody holds `done` yet.
            done.catch(() => undefined);
            startup.reject(error);
          }
          rejectDone(error);
        });
        return;
      }
      const delay = Math.min(o.maxRespawnDelay, o.respawnDelay * 2 ** (slot.crashes.length - 1));
      log.warn(`worker ${slot.index} (pid ${worker.process.pid}) exited with ${how}; respawning in ${delay} ms`);
      slot.respawnTimer = setTimeout(() => fork(slot), delay);
    });
  };

  // --- routing ---------------------------------------------------------------
  const live: number[] = [];
  const pickSlot = (key: string | undefined): Slot | undefined => {
    live.length = 0;
    for (const s of slots) if (s.ready) live.push(s.index);
    if (live.length === 0) return undefined;
    if (key === undefined) return slots[live[roundRobin++ % live.length]];
    return slots[rendezvous.pick(key, live)];
  };

  const routingKey = (socket: net.Socket, client: ProxiedAddress | undefined): string | undefined => {
    if (o.sticky === 'ip') return routingAddress(client?.address ?? socket.remoteAddress);
    if (typeof o.sticky !== 'function') return undefined;
    try {
      const key = o.sticky({ remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, client });
      return key === undefined ? undefined : String(key);
    } catch (error) {
      log.error(`the sticky function threw (${(error as Error).message}); routing this connection round-robin`);
      return undefined;
    }
  };

  /** Connections that came while no worker was ready (at startup, or all respawning): served by the next ready one. */
  const waiting: [net.Socket, ProxiedAddress | undefined, Buffer | undefined][] = [];
  const flushWaiting = () => {
    for (const [socket, client, head] of waiting.splice(0)) if (!socket.destroyed) handOff(socket, client, head);
  };
  const handOff = (socket: net.Socket, client: ProxiedAddress | undefined, head: Buffer | undefined) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const slot = pickSlot(routingKey(socket, client));
    if (!slot?.worker) {
      if (waiting.length < MAX_WAITING) {
        waiting.push([socket, client, head]);
      } else {
        log.warn(`no worker is ready and ${MAX_WAITING} connections already wait; connection closed`);
        socket.destroy();
      }
      return;
    }
    const message: ConnectionMessage = { type: CONNECTION };
    if (client) message.client = client;
    if (head?.length) message.head = head.toString('base64');
    slot.worker.send(message, socket, (error: Error | null) => {
      if (error) {
        log.warn(`could not hand a connection to worker ${slot.index}: ${error.message}`);
        socket.destroy();
      }
    });
  };

  const onConnection = (socket: net.Socket) => {
    if (!o.proxyProtocol) {
      handOff(socket, undefined, undefined);
      return;
    }
    readProxyHeader(socket, o.proxyTimeout).then(
      ({ client, head }) => handOff(socket, client, head),
      (error: Error) => {
        log.warn(`connection from ${socket.remoteAddress} closed: ${error.message}`);
        socket.destroy();
      },
    );
  };

  // --- shutdown ----------------------------------------------------------------
  const signalHandlers = new Map<NodeJS.Signals, () => void>();
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      log.info('shutting down');
      for (const slot of slots) clearTimeout(slot.respawnTimer);
      for (const [socket] of waiting.splice(0)) socket.destroy();
      const frontClosed = front ? new Promise<void>((resolve) => front!.close(() => resolve())) : Promise.resolve();
      const exits = slots
        .filter((s) => s.worker && !s.worker.isDead())
        .map((s) => {
          const worker = s.worker!;
          const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
          if (worker.isConnected()) worker.send({ type: SHUTDOWN }, undefined, () => undefined);
          return exited;
        });
      const hard = setTimeout(() => {
        for (const s of slots) {
          if (s.worker && !s.worker.isDead()) {
            log.warn(`worker ${s.index} still busy after ${o.hardShutdownDelay} ms: killed`);
            s.worker.process.kill('SIGKILL');
          }
        }
      }, o.hardShutdownDelay);
      await Promise.all(exits);
      clearTimeout(hard);
      await frontClosed;
      for (const [signal, handler] of signalHandlers) process.off(signal, handler);
      await shared?.close();
      log.info('stopped');
    })();
    return closing;
  };
  const close = () => shutdown().then(() => resolveDone());

  for (const signal of o.shutdownSignals) {
    const handler = () => {
      void close().then(() => {
        // End the process as the signal would have (our handlers are off by
        // now, so the default action applies unless the app listens too).
        // Apps that want to outlive the signal pass shutdownSignals: [].
        process.kill(process.pid, signal);
      });
    };
    signalHandlers.set(signal, handler);
    process.on(signal, handler);
  }

  // --- start -------------------------------------------------------------------
  try {
    if (mode === 'handoff') {
      // Listen first (a port in use fails fast, before any fork), accept once every worker is ready.
      front = net.createServer({ pauseOnConnect: true }, onConnection);
      const listening = front;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen({ port: o.port, host: o.host, ipv6Only: o.ipv6Only, backlog: o.backlog }, () => {
          listening.off('error', reject);
          resolve();
        });
      });
      address = listening.address() as net.AddressInfo;
      listening.on('error', (error) => (o.errorHandler ? o.errorHandler(error) : log.error(`listening socket: ${error.message}`)));
      for (const slot of slots) fork(slot);
    } else {
      // Node's cluster: the workers listen on one shared port themselves.
      for (const slot of slots) fork(slot);
    }
    await started;
  } catch (error) {
    await shutdown();
    throw error;
  }
  startup = undefined;

  return {
    role: 'primary',
    address: address ?? { address: o.host ?? '::', port: o.port, family: 'IPv6' },
    shared,
    workers: () => slots.map((s) => ({ index: s.index, pid: s.worker?.process.pid, ready: s.ready })),
    close,
    done,
  };
}

/**
 * Reads a PROXY header off a paused socket: exactly the header is consumed
 * from the stream the worker will see, and whatever the same reads brought
 * after it (the start of the TLS ClientHello) is returned as `head` for the
 * worker to put back. Reading stops at the libuv level before the socket is
 * handed over: bytes read after that point by this process would be lost
 * (the sending side drops its handle's reads).
 */
export function readProxyHeader(socket: net.Socket, timeoutMs: number): Promise<{ client: ProxiedAddress | undefined; head: Buffer }> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`no PROXY header within ${timeoutMs} ms`)), timeoutMs);
    /** Stops reading: listeners off, stream paused; returns what the stream still buffered. */
    const stop = (): Buffer[] => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.pause();
      // Anything the stream buffered beyond the last chunk (none in flowing
      // mode, but be exact). read() may restart the handle's reads, so the
      // handle is stopped only after it.
      const buffered: Buffer[] = [];
      let more: Buffer | null;
      while (socket.readableLength > 0 && (more = socket.read() as Buffer | null) !== null) buffered.push(more);
      // pause() alone lets libuv keep reading into the stream's buffer, and
      // bytes this process reads once the socket is sent are dropped (the
      // sending side's handle reads into a no-op): stop the handle itself,
      // and keep the stream from restarting it (its read-ahead on the next
      // tick would, and the send may wait for the previous hand-off's ack).
      const handle = (socket as net.Socket & { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
      (socket as net.Socket & { _read: () => void })._read = () => undefined;
      if (handle?.readStop) {
        handle.reading = false;
        handle.readStop();
      }
      return buffered;
    };
    const fail = (error: Error) => {
      stop();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const parsed = parseProxyHeader(received);
      if (parsed.state === 'incomplete') {
        if (received.length > V2_MAX_LENGTH) fail(new Error('PROXY header too long'));
        return;
      }
      if (parsed.state === 'error') {
        fail(new Error(parsed.reason));
        return;
      }
      const buffered = stop();
      resolve({ client: parsed.source, head: Buffer.concat([received.subarray(parsed.length), ...buffered]) });
    };
    const onError = (error: Error) => fail(error);
    const onEnd = () => fail(new Error('the connection ended before its PROXY header was complete'));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.resume();
  });
}
