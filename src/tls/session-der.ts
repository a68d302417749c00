/**
 * Reads the few fields the TLS layer needs from a DER-encoded session, as
 * Node hands it to 'newSession' and returns it from tlsSocket.getSession()
 * (OpenSSL's i2d_SSL_SESSION, ssl/ssl_asn1.c):
 *
 *   SSLSession ::= SEQUENCE {
 *     version      INTEGER,        -- 1
 *     sslVersion   INTEGER,        -- 0x0303 TLS 1.2, 0x0304 TLS 1.3
 *     cipher       OCTET STRING,
 *     sessionID    OCTET STRING,
 *     masterKey    OCTET STRING,
 *     keyArg   [0] IMPLICIT OCTET STRING OPTIONAL,
 *     time     [1] EXPLICIT INTEGER OPTIONAL,  -- seconds since the epoch
 *     timeout  [2] EXPLICIT INTEGER OPTIONAL,  -- seconds the session lives
 *     ... }
 *
 * Only the outer structure is walked, every length is checked against the
 * buffer, and anything unexpected gives `undefined`: the caller then falls
 * back to its defaults rather than trusting a guess. The bytes are secrets:
 * nothing here copies, logs or keeps them.
 */

/** OpenSSL's sslVersion of a TLS 1.3 session. */
export const TLS1_3_VERSION = 0x0304;

export interface SessionFacts {
  /** The protocol version, e.g. 0x0303 for TLS 1.2. */
  protocolVersion: number;
  /** The session ID: a view into the DER buffer, valid as long as it is. */
  sessionId: Uint8Array;
  /** Seconds the session lives from its creation (OpenSSL's session timeout), when present. */
  timeoutSeconds: number | undefined;
}

interface Tlv {
  tag: number;
  /** Offset of the value. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

const TAG_SEQUENCE = 0x30;
const TAG_INTEGER = 0x02;
const TAG_OCTET_STRING = 0x04;
const TAG_TIMEOUT = 0xa2; // [2] constructed, context-specific

/** One tag-length-value at `offset`, or undefined if it does not fit inside `limit`. */
function readTlv(der: Uint8Array, offset: number, limit: number): Tlv | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    // Sessions are at most 10 KiB (Node drops larger ones): 3 length bytes are plenty.
    if (bytes === 0 || bytes > 3 || start + bytes > limit) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i];
    start += bytes;
  }
  const end = start + length;
  return end <= limit ? { tag, start, end } : undefined;
}

/** A non-negative INTEGER of at most 6 bytes (exact in a double), else undefined. */
function readUnsigned(der: Uint8Array, tlv: Tlv | undefined): number | undefined {
  if (!tlv || tlv.tag !== TAG_INTEGER) return undefined;
  const length = tlv.end - tlv.start;
  if (length < 1 || length > 6 || der[tlv.start] & 0x80) return undefined;
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) value = value * 256 + der[i];
  return value;
}

/** The protocol version, session ID and timeout of a DER session, or undefined if it is not one. */
export function readSession(der: Uint8Array): SessionFacts | undefined {
  const outer = readTlv(der, 0, der.length);
  if (!outer || outer.tag !== TAG_SEQUENCE) return undefined;
  const end = outer.end;

  const version = readTlv(der, outer.start, end);
  if (readUnsigned(der, version) === undefined) return undefined;
  const sslVersion = readTlv(der, version!.end, end);
  const protocolVersion = readUnsigned(der, sslVersion);
  if (protocolVersion === undefined) return undefined;
  const cipher = readTlv(der, sslVersion!.end, end);
  if (!cipher || cipher.tag !== TAG_OCTET_STRING) return undefined;
  const sessionId = readTlv(der, cipher.end, end);
  if (!sessionId || sessionId.tag !== TAG_OCTET_STRING) return undefined;

  // The optional fields that follow are in tag order: stop at [2] or past it.
  let timeoutSeconds: number | undefined;
  let offset = sessionId.end;
  for (let field = 0; field < 4 && offset < end; field++) {
    const tlv = readTlv(der, offset, end);
    if (!tlv) break;
    if (tlv.tag === TAG_TIMEOUT) {
      timeoutSeconds = readUnsigned(der, readTlv(der, tlv.start, tlv.end));
      break;
    }
    if (tlv.tag > TAG_TIMEOUT) break; // masterKey (0x04), [0] (0x80), [1] (0xa1) come before it
    offset = tlv.end;
  }

  return { protocolVersion, sessionId: der.subarray(sessionId.start, sessionId.end), timeoutSeconds };
}
