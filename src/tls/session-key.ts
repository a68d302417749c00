/**
 * The cache key of a TLS session, and back.
 *
 * The key sits in the cache's blocks next to the session (native/chain.h), so
 * every byte of it costs memory: in the default namespace the key is the
 * session ID itself (32 bytes, which with a 160-byte session fills exactly two
 * 96-byte blocks); in any other it is `namespace \0 id`. The two forms never
 * meet: a default key is at most 32 bytes (TLS session IDs are 1..32), a
 * namespaced one is always longer (a namespaced key that would be 32 bytes or
 * less, only possible for a client-made short ID, is not looked up at all:
 * servers make 32-byte IDs). So a client cannot present an ID that one
 * namespace turns into another namespace's key.
 */

export const DEFAULT_NAMESPACE = 'default';
/** TLS session IDs are at most 32 bytes (RFC 5246 7.4.1.2; OpenSSL makes 32). */
export const MAX_SESSION_ID_BYTES = 32;

/** Builds the keys of one namespace (reusing one scratch buffer: callers copy or use the key at once). */
export function sessionKeys(namespace: string): (id: Buffer) => Buffer | undefined {
  if (namespace === DEFAULT_NAMESPACE) {
    return (id) => (id.length >= 1 && id.length <= MAX_SESSION_ID_BYTES ? id : undefined);
  }
  const prefix = Buffer.from(`${namespace}\0`);
  const scratch = Buffer.alloc(prefix.length + MAX_SESSION_ID_BYTES);
  prefix.copy(scratch);
  return (id) => {
    if (id.length < 1 || id.length > MAX_SESSION_ID_BYTES || prefix.length + id.length <= MAX_SESSION_ID_BYTES) return undefined;
    id.copy(scratch, prefix.length);
    return scratch.subarray(0, prefix.length + id.length);
  };
}

/** The namespace and ID a session key was made from (copies), or undefined for a key no namespace makes. */
export function parseSessionKey(key: Buffer): { namespace: string; id: Buffer } | undefined {
  if (key.length === 0) return undefined;
  if (key.length <= MAX_SESSION_ID_BYTES) return { namespace: DEFAULT_NAMESPACE, id: Buffer.from(key) };
  const nul = key.indexOf(0);
  if (nul <= 0) return undefined;
  const namespace = key.subarray(0, nul).toString('utf8');
  const id = key.subarray(nul + 1);
  if (namespace === DEFAULT_NAMESPACE || id.length < 1 || id.length > MAX_SESSION_ID_BYTES) return undefined;
  return { namespace, id: Buffer.from(id) };
}

/** The key of (namespace, id) as a new buffer, or undefined where sessionKeys makes none. */
export function sessionKey(namespace: string, id: Buffer): Buffer | undefined {
  const key = sessionKeys(namespace)(id);
  return key && Buffer.from(key);
}
