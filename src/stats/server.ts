/**
 * The statistics endpoint served by the cluster primary (or by the process
 * that holds the maintenance lease when there is no primary).
 *
 * STUB: the stats issue replaces the body; the signature is what primary.ts uses.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CacheStats } from '../shared-cache';

export interface StatsServerOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Address to bind; default 127.0.0.1 (loopback). Anything else is the user's explicit choice. */
  host?: string;
}

export interface StatsServer {
  /** Resolves with the base URL (http://host:port) once listening. */
  readonly ready: Promise<string>;
  close(): Promise<void>;
}

/** Serves `read()` as JSON on GET /stats. */
export function startStatsServer(read: () => CacheStats, options: StatsServerOptions = {}): StatsServer {
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    if (req.url === '/stats' && (req.method === 'GET' || req.method === 'HEAD')) {
      const body = JSON.stringify(read());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res.writeHead(404).end();
  });
  const ready = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
  server.unref();
  return {
    ready,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
