/**
 * The worker's part of runCluster(): call init() for the server, attach the
 * shared cache to a TLS server, then either serve the sockets the primary
 * hands over (sticky modes) or listen on the shared port (sticky 'none'),
 * and shut down gracefully when the primary says so.
 */
import net from 'node:net';
import tls from 'node:tls';
import { attachSharedCache } from '../tls/attach';
import type { Attachment } from '../tls/attach';
import { rememberClientAddress } from './client-address';
import { CONNECTION, ConnectionMessage, isMessage, LISTEN_ENV, MODE_ENV, READY, SHUTDOWN, WORKER_INDEX_ENV } from './messages';
import type { ResolvedClusterOptions } from './options';

/** What init() receives. */
export interface WorkerContext {
  /** This worker's stable index (0 … workers-1); a replacement gets the index of the worker it replaces. */
  index: number;
}

/** What runCluster() resolves to in a worker. */
export interface ClusterWorker {
  role: 'worker';
  index: number;
  /** The server init() returned. */
  server: net.Server;
  /** The shared cache attached to it (TLS servers, unless `cache: false`). */
  attachment: Attachment | undefined;
}

export type InitFunction = (context: WorkerContext) => net.Server | Promise<net.Server>;

/** How often a shutting-down worker closes idle keep-alive connections, in ms. */
const IDLE_SWEEP_MS = 100;

export async function runWorker(init: InitFunction, o: ResolvedClusterOptions): Promise<ClusterWorker> {
  const index = Number(process.env[WORKER_INDEX_ENV]);
  const mode = process.env[MODE_ENV] === 'none' ? 'none' : 'handoff';
  // Ctrl-C reaches every process of the terminal's group: the primary drives the shutdown.
  for (const signal of o.shutdownSignals) process.on(signal, () => undefined);

  const server = await init({ index });
  if (!(server instanceof net.Server)) {
    throw Object.assign(new TypeError(`runCluster: init() must return (or resolve to) a net.Server such as an https, http, tls or http2 server, got ${server === null ? 'null' : typeof server}`), {
      code: 'ERR_INVALID_RETURN_VALUE',
    });
  }
  const attachment = server instanceof tls.Server && o.cache !== false ? attachSharedCache(server) : undefined;

  // Every connection, handed over or accepted, until it closes: a graceful shutdown waits for them.
  const open = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });

  let closing = false;
  process.on('message', (message: unknown, handle: unknown) => {
    if (isMessage<ConnectionMessage>(message, CONNECTION) && handle instanceof net.Socket) {
      if (closing) {
        handle.destroy();
        return;
      }
      if (message.client) rememberClientAddress(handle, message.client);
      if (message.head) {
        // What the primary read after the PROXY header (often the whole
        // ClientHello). It goes back into the socket's buffer before the
        // server wraps it: on the next tick a TLS server feeds buffered bytes
        // to OpenSSL (tls_wrap's initRead), then reads the handle. No
        // resume() here: a flowing socket would emit those bytes as 'data'
        // first, to nobody, and the handshake would hang.
        handle.unshift(Buffer.from(message.head, 'base64'));
        server.emit('connection', handle);
      } else {
        server.emit('connection', handle);
        handle.resume();
      }
    } else if (isMessage(message, SHUTDOWN)) {
      if (closing) return;
      closing = true;
      shutdown(server, open);
    }
  });

  if (mode === 'none') {
    const { port, host, ipv6Only, backlog } = JSON.parse(process.env[LISTEN_ENV] ?? '{}');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, ipv6Only, backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  process.send?.({ type: READY, index });
  return { role: 'worker', index, server, attachment };
}

/** Stops taking connections, closes idle keep-alive ones as they become idle, exits when none is left. */
function shutdown(server: net.Server, open: Set<net.Socket>): void {
  if (server.listening) server.close();
  const closeIdle = () => (server as net.Server & { closeIdleConnections?: () => void }).closeIdleConnections?.();
  const check = () => {
    closeIdle();
    if (open.size === 0) process.exit(0);
  };
  check();
  setInterval(check, IDLE_SWEEP_MS);
}
