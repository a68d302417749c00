/**
 * The ring of session-ticket keys, as kept in the segment (native/layout.h):
 * a fixed array of 4 records of 64 bytes (16 name, 32 HMAC-SHA256, 16
 * AES-128-CBC), a mask of the filled slots and a generation. A slot's role is
 * its index:
 *
 *   0  next      decrypts only (and renews): it reaches every process (and, for
 *                the cross-host tier, every host) one period before anyone
 *                encrypts with it, so a ticket is never issued under a key some
 *                server cannot read yet (HAProxy's and Caddy's rule)
 *   1  current   encrypts every new ticket
 *   2, 3 previous decrypt and renew: the client gets a ticket under the current key
 *
 * Automatic rotation (the maintainer, every `tickets.rotate`): next becomes
 * current, current becomes previous, a fresh random next is made; done under
 * the segment's write lock (Cache::RotateTicketRing). A ticket is accepted
 * until the second rotation after it was issued: for at least one and at most
 * two rotation periods (and never longer than the server's sessionTimeout,
 * which OpenSSL checks on its own).
 *
 * Operator-supplied keys (`tickets: { keys }`, like nginx's
 * `ssl_session_ticket_key` and HAProxy's `tls-ticket-keys`): the first key
 * encrypts, the others decrypt and renew. Keys are 48 or 80 bytes in nginx's
 * layouts; a key file holds base64 keys one a line (HAProxy's format) or one
 * raw 48/80-byte key (nginx's). Node's callback is fixed to AES-128-CBC, so an
 * 80-byte key's AES half is cut to its first 16 bytes: tickets are shared with
 * other tls-shm-cache servers given the same file, not with nginx itself.
 *
 * The representation is deliberately flat so that the cross-host tier can
 * publish it as it is (256 bytes, the mask and the generation).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TlsShmCacheError } from '../core/errors';
import type { SharedCache } from '../core/shared-cache';
import { rangeError, typeError } from '../core/validate';

export const RING_SLOTS = 4;
export const NAME_BYTES = 16;
export const HMAC_BYTES = 32;
export const AES_BYTES = 16;
export const RECORD_BYTES = NAME_BYTES + HMAC_BYTES + AES_BYTES;
export const RING_BYTES = RING_SLOTS * RECORD_BYTES;
export const NEXT = 0;
export const CURRENT = 1;
export const PREVIOUS = 2;

/** One ticket key, as Node's ticket key callback takes it. Secret. */
export interface TicketKeyRecord {
  name: Buffer;
  hmac: Buffer;
  aes: Buffer;
}

/** A ring read out of the segment: the keys by slot (undefined = empty) and its generation. */
export interface TicketRing {
  generation: number;
  keys: (TicketKeyRecord | undefined)[];
}

/** Splits the segment's 256 ring bytes into records; the records own copies (the input may be zeroed). */
export function decodeRing(bytes: Buffer, present: number, generation: number): TicketRing {
  const keys: (TicketKeyRecord | undefined)[] = [];
  for (let slot = 0; slot < RING_SLOTS; slot++) {
    if ((present & (1 << slot)) === 0) {
      keys.push(undefined);
      continue;
    }
    const at = slot * RECORD_BYTES;
    keys.push({
      name: Buffer.from(bytes.subarray(at, at + NAME_BYTES)),
      hmac: Buffer.from(bytes.subarray(at + NAME_BYTES, at + NAME_BYTES + HMAC_BYTES)),
      aes: Buffer.from(bytes.subarray(at + NAME_BYTES + HMAC_BYTES, at + RECORD_BYTES)),
    });
  }
  return { generation, keys };
}

/** The inverse of decodeRing: 256 bytes and the mask of filled slots. The caller zeroes `ring` after use. */
export function encodeRing(keys: (TicketKeyRecord | undefined)[]): { ring: Buffer; present: number } {
  const ring = Buffer.alloc(RING_BYTES);
  let present = 0;
  keys.forEach((key, slot) => {
    if (!key || slot >= RING_SLOTS) return;
    const at = slot * RECORD_BYTES;
    key.name.copy(ring, at);
    key.hmac.copy(ring, at + NAME_BYTES);
    key.aes.copy(ring, at + NAME_BYTES + HMAC_BYTES);
    present |= 1 << slot;
  });
  return { ring, present };
}

/** A fresh random key record. */
export function randomRecord(): TicketKeyRecord {
  return { name: crypto.randomBytes(NAME_BYTES), hmac: crypto.randomBytes(HMAC_BYTES), aes: crypto.randomBytes(AES_BYTES) };
}

/**
 * Node's 48-byte `setTicketKeys` key made from a record, for runtimes without
 * the ticket key callback: name, the first 16 HMAC bytes, AES. (HMAC pads a
 * key with zeros, so a 48-byte supplied key, whose HMAC half is 16 bytes, is
 * the same key on both paths; a random 32-byte HMAC key is not.)
 */
export function singleKeyOf(record: TicketKeyRecord): Buffer {
  return Buffer.concat([record.name, record.hmac.subarray(0, 16), record.aes]);
}

/**
 * One automatic rotation: next becomes current, current previous, and a
 * fresh random next is made (the first rotation also makes the current key).
 * Returns the new generation, or 0 if the segment's write lock could not be
 * had (the next maintenance tick tries again).
 */
export function rotateTicketRing(cache: SharedCache): number {
  const fresh = crypto.randomBytes(2 * RECORD_BYTES);
  try {
    return cache.rotateTicketRing(fresh);
  } finally {
    fresh.fill(0);
  }
}

/**
 * A key in nginx's layouts: 48 bytes (name 16, AES 16, HMAC 16) or 80 bytes
 * (name 16, HMAC 32, AES 32, of which AES-128 uses the first 16).
 */
export function recordFromNginxKey(key: Uint8Array, where: string): TicketKeyRecord {
  const b = Buffer.from(key);
  if (b.length === 48) {
    // A 16-byte HMAC key zero-padded to 32 is the same HMAC key (RFC 2104).
    const hmac = Buffer.alloc(HMAC_BYTES);
    b.copy(hmac, 0, 32, 48);
    return { name: b.subarray(0, 16), hmac, aes: Buffer.from(b.subarray(16, 32)) };
  }
  if (b.length === 80) return { name: b.subarray(0, 16), hmac: Buffer.from(b.subarray(16, 48)), aes: Buffer.from(b.subarray(48, 64)) };
  throw rangeError(`${where} must be 48 or 80 bytes (nginx's ssl_session_ticket_key formats), got ${b.length}`);
}

const BASE64_TEXT = /^[A-Za-z0-9+/=\s]*$/;

/**
 * The keys of one key file: base64 keys one a line (HAProxy's tls-ticket-keys
 * format; blank lines and `#` comments skipped), or a single raw 48/80-byte key
 * (what nginx's ssl_session_ticket_key reads, e.g. `openssl rand 80 > key`).
 */
export function parseKeyFile(content: Buffer, file: string): TicketKeyRecord[] {
  const text = content.toString('latin1');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length > 0 && lines.every((l) => BASE64_TEXT.test(l))) {
    return lines.map((line, i) => recordFromNginxKey(Buffer.from(line, 'base64'), `${file}: key ${i + 1} (base64-decoded)`));
  }
  if (content.length === 48 || content.length === 80) return [recordFromNginxKey(content, file)];
  throw rangeError(`${file} holds no ticket keys: expected base64 keys of 48 or 80 bytes one a line, or one raw 48/80-byte key`);
}

/** What `tickets.keys` accepts: key Buffers, key file paths, or one path. */
export type TicketKeySpec = string | ReadonlyArray<Uint8Array | string>;

interface FileState {
  path: string;
  signature: string;
}

/**
 * Operator-supplied keys: validated at setup, published into the segment by
 * the maintainer, and re-read when a key file changes (checked on every
 * maintenance tick by size, mtime and inode) or on rotateTicketKey().
 */
export class SuppliedTicketKeys {
  readonly #spec: ReadonlyArray<Uint8Array | string>;
  #files: FileState[] = [];
  /** Generation of the ring this process published last (0 = none). */
  #published = 0;

  constructor(spec: unknown, where: string) {
    if (typeof spec === 'string') spec = [spec];
    if (!Array.isArray(spec) || spec.length === 0) {
      throw typeError(`${where}: tickets.keys must be a key file path or a non-empty array of 48/80-byte Buffers and key file paths`);
    }
    for (const [i, entry] of (spec as unknown[]).entries()) {
      if (typeof entry !== 'string' && !(entry instanceof Uint8Array)) {
        throw typeError(`${where}: tickets.keys[${i}] must be a Buffer or a key file path, got ${entry === null ? 'null' : typeof entry}`);
      }
    }
    this.#spec = (spec as (Uint8Array | string)[]).map((e) => (typeof e === 'string' ? path.resolve(e) : Buffer.from(e)));
    this.load(where); // fail at setup, not at the first tick
  }

  /** Paths of the key files given. */
  get files(): string[] {
    return this.#spec.filter((e): e is string => typeof e === 'string');
  }

  /** Reads every key in order (files in file order); throws RangeError / the fs error on bad input. */
  load(where = 'tickets.keys'): TicketKeyRecord[] {
    const records: TicketKeyRecord[] = [];
    const files: FileState[] = [];
    this.#spec.forEach((entry, i) => {
      if (typeof entry === 'string') {
        let content: Buffer;
        try {
          files.push({ path: entry, signature: signatureOf(fs.statSync(entry)) });
          content = fs.readFileSync(entry);
        } catch (error) {
          throw new TlsShmCacheError('ERR_TLS_SHM_TICKET_KEYS', `${where}: cannot read the ticket key file ${entry}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        try {
          records.push(...parseKeyFile(content, entry));
        } finally {
          content.fill(0);
        }
      } else {
        records.push(recordFromNginxKey(entry, `${where}[${i}]`));
      }
    });
    if (records.length > RING_SLOTS) {
      throw rangeError(`${where}: at most ${RING_SLOTS} ticket keys (the first encrypts, the others decrypt), got ${records.length}`);
    }
    this.#files = files;
    return records;
  }

  /** True if a key file changed since the last load (or can no longer be read). */
  changed(): boolean {
    return this.#files.some((f) => {
      try {
        return signatureOf(fs.statSync(f.path)) !== f.signature;
      } catch {
        return true;
      }
    });
  }

  /**
   * Publishes the keys when a file changed, when `force`d, or when the
   * segment's ring is no longer the one published here (another writer,
   * recovery). Returns the ring's generation after, 0 if the lock failed.
   * A file that became unreadable or invalid throws; the ring stays as it was.
   */
  publish(cache: SharedCache, force = false): number {
    const current = cache.ticketKeyGeneration();
    if (!force && !this.changed() && current !== 0 && current === this.#published) return current;
    const records = this.load();
    // The first key encrypts (current); the others fill the previous slots, then next.
    const slots: (TicketKeyRecord | undefined)[] = new Array(RING_SLOTS).fill(undefined);
    const order = [CURRENT, PREVIOUS, PREVIOUS + 1, NEXT];
    records.forEach((record, i) => (slots[order[i]] = record));
    const { ring, present } = encodeRing(slots);
    try {
      const generation = cache.setTicketRing(ring, present);
      if (generation !== 0) this.#published = generation;
      return generation;
    } finally {
      ring.fill(0);
      for (const r of records) {
        r.hmac.fill(0);
        r.aes.fill(0);
      }
    }
  }
}

function signatureOf(stat: fs.Stats): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}
