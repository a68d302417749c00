/**
 * Sealing what leaves the host: AES-256-GCM with keys derived from the
 * operator's `secret` by HKDF-SHA256, a random 96-bit nonce per message, and
 * the message's identity (purpose, namespace, session ID, expiry, origin) as
 * additional data, so that a sealed session cannot be replayed under another
 * ID, namespace or lifetime, nor a ring document passed off as a session.
 *
 * `secret` may be a list: the first seals, all open, so a fleet rotates its
 * secret by deploying [new, old] everywhere, then [new].
 *
 * Sealed form: version (1 byte) | key id (4) | nonce (12) | ciphertext | tag (16).
 * The key id (from HKDF too, not the key) lets an opener pick the key instead of
 * trying each, and tells "sealed with a secret I do not hold" apart from "forged
 * or damaged".
 */
import crypto from 'node:crypto';

const VERSION = 1;
const HEADER = 1 + 4 + 12;
const TAG = 16;
const SALT = Buffer.from('tls-shm-cache remote v1');

/** One secret, derived for one purpose. */
export interface SealKey {
  /** 4 bytes that name the secret (not secret themselves). */
  readonly id: Buffer;
  /** The AES-256-GCM key. */
  readonly key: Buffer;
}

/** Why a sealed message was refused. */
export type OpenFailure = 'malformed' | 'unknownSecret' | 'forged';

/** The keys of `purpose` ('session', 'ring') for each secret, first = sealing. */
export function deriveKeys(secrets: readonly Buffer[], purpose: string): SealKey[] {
  return secrets.map((secret) => ({
    id: Buffer.from(crypto.hkdfSync('sha256', secret, SALT, `key id`, 4)),
    key: Buffer.from(crypto.hkdfSync('sha256', secret, SALT, `seal ${purpose}`, 32)),
  }));
}

/** A value derived from the first secret for a non-secret use (a shared session ID context). */
export function deriveLabel(secret: Buffer, label: string): string {
  return Buffer.from(crypto.hkdfSync('sha256', secret, SALT, label, 16)).toString('hex');
}

/** Seals `plaintext` with `key`, binding `aad`. */
export function seal(key: SealKey, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), key.id, nonce, body, cipher.getAuthTag()]);
}

/** Opens what {@link seal} made; a failure says why and never throws. */
export function open(keys: readonly SealKey[], sealed: Buffer, aad: Buffer): Buffer | OpenFailure {
  if (sealed.length < HEADER + TAG || sealed[0] !== VERSION) return 'malformed';
  const id = sealed.subarray(1, 5);
  const key = keys.find((k) => k.id.equals(id));
  if (!key) return 'unknownSecret';
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key.key, sealed.subarray(5, HEADER));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    return Buffer.concat([decipher.update(sealed.subarray(HEADER, sealed.length - TAG)), decipher.final()]);
  } catch {
    return 'forged';
  }
}

/** The additional data of a replicated session. */
export function sessionAad(namespace: string, sessionId: Buffer, expiresAtMs: number, origin: string): Buffer {
  const expiry = Buffer.alloc(8);
  expiry.writeBigUInt64BE(BigInt(expiresAtMs));
  return Buffer.concat([Buffer.from(`session\0${namespace}\0${origin}\0`), expiry, sessionId]);
}
