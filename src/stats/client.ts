/**
 * Reads a statistics document over HTTP, for the `tls-shm-cache stats`
 * command. Every way it can fail becomes a {@link StatsFetchError} whose
 * message a person can act on.
 */
import http from 'node:http';
import { STATS_DOCUMENT_VERSION, type StatsDocument } from './document';

/** Where the command looks when given no --url: uWSGI's customary stats port. */
export const DEFAULT_STATS_URL = 'http://127.0.0.1:9090';

/** The largest document accepted, in bytes: a real one is about 2 KiB. */
const MAX_BODY_BYTES = 1 << 20;

export class StatsFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatsFetchError';
  }
}

/**
 * The URL of the JSON document for what the user typed: a base URL
 * (`http://127.0.0.1:9090`) gets `/stats` appended; a URL with a path is used
 * as it is. Throws a TypeError for anything that is not an http: URL.
 */
export function statsUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new TypeError(`--url must be an http:// URL, got '${input}'`);
  }
  if (url.protocol !== 'http:') throw new TypeError(`--url must be an http:// URL, got '${input}'`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/stats';
  return url;
}

/**
 * GETs `url` and returns the parsed document.
 * @param timeoutMs how long to wait for the whole response, in milliseconds
 */
export function fetchStats(url: URL, timeoutMs = 5000): Promise<StatsDocument> {
  return new Promise<StatsDocument>((resolve, reject) => {
    const fail = (message: string) => reject(new StatsFetchError(`cannot read ${url.href}: ${message}`));
    const req = http.get(url, { headers: { accept: 'application/json' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > MAX_BODY_BYTES) {
          req.destroy();
          fail(`the response is larger than ${MAX_BODY_BYTES} bytes; is this a tls-shm-cache stats endpoint?`);
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (error) => fail(error.message));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          const detail = Buffer.concat(chunks).toString('utf8').trim().split('\n')[0].slice(0, 200);
          fail(`HTTP ${res.statusCode}${detail ? ` (${detail})` : ''}`);
          return;
        }
        let doc: unknown;
        try {
          doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          fail('the response is not JSON; is this a tls-shm-cache stats endpoint?');
          return;
        }
        const version = (doc as { version?: unknown } | null)?.version;
        if (typeof version !== 'number') {
          fail('the response has no version field; is this a tls-shm-cache stats endpoint?');
        } else if (version > STATS_DOCUMENT_VERSION) {
          fail(`the document is version ${version}; this command reads version ${STATS_DOCUMENT_VERSION}: upgrade tls-shm-cache`);
        } else {
          resolve(doc as StatsDocument);
        }
      });
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      fail(`no answer within ${timeoutMs / 1000} s`);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === 'ECONNREFUSED'
          ? ' (nothing listens there: is the server running, with stats: { port } in setupSharedCache()?)'
          : '';
      fail(`${error.message}${hint}`);
    });
  });
}
