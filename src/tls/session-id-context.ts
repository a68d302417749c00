/**
 * The session ID context: OpenSSL resumes a session (from the cache or from a
 * ticket) only on a context with the same `sid_ctx` as the one that created
 * it. Node sets it, unless the server's options name one, to a hash of
 * `process.argv` (lib/_tls_wrap.js), so two processes started with different
 * arguments — two entry scripts under a supervisor, `node app.js --port 1`
 * and `--port 2`, a worker forked with another `exec` — silently refuse each
 * other's sessions: every lookup hits and every resumption still fails.
 *
 * Choice: when the server's context is Node's argv default, attachSharedCache
 * replaces it with one derived from what every process sharing the sessions
 * has in common, and nothing else: the namespace, the segment's creation time
 * (stored in the segment header, so equal in every process that opens it),
 * and the server's certificates (as nginx derives its context from them).
 * The namespace keeps servers of different namespaces from resuming each
 * other's tickets, which the shared ticket key would otherwise allow; the
 * certificates keep two applications with different certificates that share
 * one cache (and one namespace) from doing so: a session or ticket made under
 * one certificate never resumes under another, and a certificate reload
 * through setSecureContext() starts new sessions. A `sessionIdContext` the
 * user set in the server options is kept: the user then owns making it equal
 * across processes.
 *
 * Node offers no public call that changes the context of a running server
 * short of rebuilding it with setSecureContext() and every certificate option;
 * the context is set on the server's SecureContext (`server._sharedCreds`,
 * which Node itself uses for every connection) and re-set after each
 * setSecureContext() call.
 */
import crypto from 'node:crypto';
import type tls from 'node:tls';

/** What Node sets when the server options name no sessionIdContext (lib/_tls_wrap.js). */
export function nodeDefaultSessionIdContext(): string {
  return crypto.createHash('sha1').update(process.argv.join(' ')).digest('hex').slice(0, 32);
}

/**
 * The context shared by every server of `namespace` on the segment created at
 * `segmentCreatedAt` (ms) that serves the certificates of `certificates`
 * (see {@link certificateDigest}): 32 hex characters, OpenSSL's limit being
 * 32 bytes. When the cache is shared across hosts (`remote`), every host's
 * segment has its own creation time, so a fleet-wide seed (`remote:<prefix>`,
 * the same on every host) takes its place: sessions and tickets then resume
 * on any host that serves the same certificates.
 */
export function sharedSessionIdContext(namespace: string, segmentCreatedAt: number | string, certificates: string): string {
  return crypto
    .createHash('sha256')
    .update(`tls-shm-cache sid_ctx v2\0${namespace}\0${segmentCreatedAt}\0${certificates}`)
    .digest('hex')
    .slice(0, 32);
}

interface ServerWithContext {
  sessionIdContext?: string;
  cert?: unknown;
  _sharedCreds?: { context?: { setSessionIdContext?: (value: string) => void; getCertificate?: () => Buffer | undefined } };
}

/**
 * A digest of the certificates the server's current secure context serves:
 * each leaf certificate given in the `cert` option (a PEM string or Buffer,
 * or an array of them for RSA + ECDSA), and the one OpenSSL holds (which also
 * covers a `pfx`). Order-independent; '' when there is none.
 */
export function certificateDigest(server: tls.Server): string {
  const s = server as unknown as ServerWithContext;
  const ders = new Set<string>();
  const given = Array.isArray(s.cert) ? s.cert : s.cert === undefined ? [] : [s.cert];
  for (const pem of given) {
    if (typeof pem !== 'string' && !Buffer.isBuffer(pem)) continue;
    try {
      // The first certificate of each entry is the leaf; the rest is its chain.
      ders.add(new crypto.X509Certificate(pem).raw.toString('base64'));
    } catch {
      // Not parseable here: OpenSSL's own copy below still counts.
    }
  }
  try {
    const held = s._sharedCreds?.context?.getCertificate?.();
    if (held && held.length > 0) ders.add(Buffer.from(held).toString('base64'));
  } catch {
    // No certificate (a PSK-only server): nothing to add.
  }
  if (ders.size === 0) return '';
  const hash = crypto.createHash('sha256');
  for (const der of [...ders].sort()) hash.update(der).update('\0');
  return hash.digest('hex');
}

/** True when the server runs with Node's argv-derived default, i.e. the user chose none. */
export function usesNodeDefault(server: tls.Server): boolean {
  const current = (server as unknown as ServerWithContext).sessionIdContext;
  return current === undefined || current === nodeDefaultSessionIdContext();
}

/** Sets the session ID context of the server's current secure context. */
export function applySessionIdContext(server: tls.Server, value: string): void {
  const s = server as unknown as ServerWithContext;
  const context = s._sharedCreds?.context;
  if (typeof context?.setSessionIdContext !== 'function') {
    throw Object.assign(
      new TypeError(
        'attachSharedCache: this Node.js version offers no way to set the session ID context of a running server; ' +
          "pass the same sessionIdContext (e.g. 'my-app') in the server options of every process",
      ),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  context.setSessionIdContext(value);
  s.sessionIdContext = value;
}
