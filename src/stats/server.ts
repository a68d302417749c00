/**
 * The statistics endpoint served by the cluster primary (or by the process
 * that holds the maintenance lease when there is no primary), in the manner
 * of uWSGI's stats server:
 *
 *   GET /stats    the JSON document of document.ts
 *   GET /metrics  the Prometheus text exposition of prometheus.ts
 *
 * Only GET and HEAD; other methods get 405 with `Allow`, other paths 404. It
 * binds to loopback unless told otherwise, because the figures say how busy
 * and how full the server is. It serves counters only: never keys, session
 * bytes, the ticket key or the segment handle (which would let any local
 * process of the same user open the segment).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CacheStats } from '../core/shared-cache';
import { checkInteger, checkOptions, checkString } from '../core/validate';
import { buildStatsDocument } from './document';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus';

export interface StatsServerOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Address to bind; default 127.0.0.1 (loopback). Anything else is the user's explicit choice. */
  host?: string;
}

export interface StatsServer {
  /** Resolves with the base URL (`http://host:port`) once listening; rejects if the port cannot be bound. */
  readonly ready: Promise<string>;
  /** Stops listening and drops open connections. Calling it twice is harmless. */
  close(): Promise<void>;
}

const OPTIONS = ['port', 'host'] as const;
const ALLOW = 'GET, HEAD';

type Route = (read: () => CacheStats) => { type: string; body: string };

const ROUTES: Record<string, Route> = {
  '/stats': (read) => ({
    type: 'application/json; charset=utf-8',
    body: JSON.stringify(buildStatsDocument(read()), null, 2) + '\n',
  }),
  '/metrics': (read) => ({ type: PROMETHEUS_CONTENT_TYPE, body: renderPrometheus(buildStatsDocument(read())) }),
};

function send(res: http.ServerResponse, status: number, type: string, body: string, head: boolean, extra: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    // Figures change every request; a proxy or browser must not replay old ones.
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(head ? undefined : body);
}

function handle(read: () => CacheStats, req: http.IncomingMessage, res: http.ServerResponse): void {
  const head = req.method === 'HEAD';
  let pathname: string;
  try {
    pathname = new URL(req.url ?? '/', 'http://stats').pathname;
  } catch {
    send(res, 400, 'text/plain; charset=utf-8', 'bad request\n', head);
    return;
  }
  const route = Object.prototype.hasOwnProperty.call(ROUTES, pathname) ? ROUTES[pathname] : undefined;
  if (route === undefined) {
    send(res, 404, 'text/plain; charset=utf-8', `not found: ${Object.keys(ROUTES).join(' and ')} are served here\n`, head);
    return;
  }
  if (req.method !== 'GET' && !head) {
    send(res, 405, 'text/plain; charset=utf-8', `method not allowed: use ${ALLOW}\n`, false, { allow: ALLOW });
    return;
  }
  let out: { type: string; body: string };
  try {
    out = route(read);
  } catch (error) {
    // The cache was closed under us (shutdown): say so without a stack trace.
    const message = error instanceof Error ? error.message : String(error);
    send(res, 503, 'text/plain; charset=utf-8', `statistics unavailable: ${message}\n`, head);
    return;
  }
  send(res, 200, out.type, out.body, head);
}

/**
 * Serves `read()` on GET /stats (JSON) and GET /metrics (Prometheus).
 * The server is unref'd: it never keeps the process alive by itself.
 * @param read returns a fresh snapshot of the counters; called once per request
 * @param options port (default 0: any free port) and host (default 127.0.0.1)
 */
export function startStatsServer(read: () => CacheStats, options: StatsServerOptions = {}): StatsServer {
  if (typeof read !== 'function') {
    throw Object.assign(new TypeError('startStatsServer: read must be a function returning CacheStats'), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  }
  const o = checkOptions<StatsServerOptions>(options, 'stats', OPTIONS);
  const port = checkInteger(o.port, 'stats.port', 0, 65535, 0);
  const host = o.host === undefined ? '127.0.0.1' : checkString(o.host, 'stats.host');

  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => handle(read, req, res));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const ready = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
  // A later error (after listening) must not crash the primary.
  server.on('error', () => {});
  server.unref();

  let closing: Promise<void> | undefined;
  return {
    ready,
    close(): Promise<void> {
      // Wait for listen() to finish either way, so that a close() called at once still closes.
      closing ??= ready.then(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            // Keep-alive connections (a poller, a Prometheus scraper) would hold close() open.
            for (const socket of sockets) socket.destroy();
          }),
        () => undefined,
      );
      return closing;
    },
  };
}
