/**
 * The cache key of a TLS session, and back.
 *
 * The key sits in the cache's blocks next to the session (native/chain.h), so
 * every byte of it costs memory: in the default namespace the key is the
 * session ID itself (32 bytes, which with a 160-byte session fills exactly two
 * 96-byte blocks); in any other it is `namespace \0 id` (34 bytes or more).
 *
 * Only 32-byte IDs have keys: OpenSSL makes every server session ID 32 bytes,
 * so an ID of another length (a client can send 1..32 bytes) is not looked up
 * at all. The two forms therefore never meet (a default key is exactly 32
 * bytes, a namespaced one longer), a client cannot present an ID that one
 * namespace turns into another's key, and a lookup or the cross-host tier
 * never reaches a key of another length that something else stored in the
 * same cache.
 */

export const DEFAULT_NAMESPACE = 'default';
/** TLS session IDs are at most 32 bytes (RFC 5246 7.4.1.2; OpenSSL makes 32). */
export const SESSION_ID_BYTES = 32;

/** Builds the keys of one namespace (reusing one scratch buffer: callers copy or use the key at once). */
export function sessionKeys(namespace: string): (id: Buffer) => Buffer | undefined {
  if (namespace === DEFAULT_NAMESPACE) return (id) => (id.length === SESSION_ID_BYTES ? id : undefined);
  const prefix = Buffer.from(`${namespace}\0`);
  const scratch = Buffer.alloc(prefix.length + SESSION_ID_BYTES);
  prefix.copy(scratch);
  return (id) => {
    if (id.length !== SESSION_ID_BYTES) return undefined;
    id.copy(scratch, prefix.length);
    return scratch;
  };
}

/** The namespace and ID a session key was made from (copies), or undefined for a key no namespace makes. */
export function parseSessionKey(key: Buffer): { namespace: string; id: Buffer } | undefined {
  if (key.length === SESSION_ID_BYTES) return { namespace: DEFAULT_NAMESPACE, id: Buffer.from(key) };
  const nul = key.length - SESSION_ID_BYTES - 1;
  if (nul < 1 || key[nul] !== 0 || key.subarray(0, nul).includes(0)) return undefined;
  const namespace = key.subarray(0, nul).toString('utf8');
  if (namespace === DEFAULT_NAMESPACE) return undefined;
  return { namespace, id: Buffer.from(key.subarray(nul + 1)) };
}

/** The key of (namespace, id) as a new buffer, or undefined where sessionKeys makes none. */
export function sessionKey(namespace: string, id: Buffer): Buffer | undefined {
  const key = sessionKeys(namespace)(id);
  return key && Buffer.from(key);
}
