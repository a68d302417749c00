/**
 * The cluster's session-ticket key: one 48-byte key (16 bytes key name, 16
 * HMAC, 16 AES, Node's layout) kept in the segment header with a generation
 * number, made by the maintainer (the primary, or the lease holder when there
 * is none) and copied into every attached server.
 *
 * Why each server must be told again and again (DESIGN.md, lib/_tls_wrap.js):
 * - Node keeps one key per secure context, random per process;
 * - the cluster module copies the FIRST worker's key into each later worker
 *   when it listen()s, overwriting whatever was applied before, and never
 *   hears of a rotation; balancers that pass sockets to workers bypass even that;
 * - server.setSecureContext() (a certificate reload) builds a new context
 *   with a new random key.
 * So the follower re-applies at attach, after 'listening', after every
 * setSecureContext(), and whenever the generation in the segment moves, which
 * it checks on every incoming connection (one atomic load through N-API).
 *
 * The key is a secret: it is never logged, never returned by stats, and the
 * copies made here are zeroed once handed to OpenSSL.
 */
import crypto from 'node:crypto';
import type tls from 'node:tls';
import { TICKET_KEY_APPLIED } from '../core/counters';
import type { SharedCache } from '../core/shared-cache';

/** Bytes of a Node/OpenSSL session-ticket key. */
export const TICKET_KEY_BYTES = 48;

/**
 * Publishes a fresh random key as the next generation. Returns the new
 * generation, or 0 if the segment's write lock could not be had (the next
 * maintenance tick tries again).
 */
export function rotateTicketKey(cache: SharedCache): number {
  const key = crypto.randomBytes(TICKET_KEY_BYTES);
  try {
    return cache.setTicketKey(key) ? cache.ticketKeyGeneration() : 0;
  } finally {
    key.fill(0);
  }
}

/** Keeps one server's ticket key equal to the segment's current one. */
export class TicketKeyFollower {
  readonly #server: tls.Server;
  readonly #cache: SharedCache;
  /** Generation last applied to the server; 0 = none yet. */
  #applied = 0;

  constructor(server: tls.Server, cache: SharedCache) {
    this.#server = server;
    this.#cache = cache;
  }

  /** The generation this server holds (0 = its own Node key). */
  get appliedGeneration(): number {
    return this.#applied;
  }

  /**
   * Applies the segment's key if its generation moved since the last call, or
   * unconditionally with `force` (after something replaced the server's key
   * behind our back: cluster listen, setSecureContext). Cheap when nothing
   * changed. Returns true if a key was applied.
   */
  sync(force = false): boolean {
    const generation = this.#cache.ticketKeyGeneration();
    if (generation === 0) return false; // no key published yet: Node's own stays
    if (!force && generation === this.#applied) return false;
    const current = this.#cache.ticketKey();
    if (!current) return false;
    try {
      this.#server.setTicketKeys(current.key);
    } finally {
      current.key.fill(0);
    }
    this.#applied = current.generation;
    this.#cache.count(TICKET_KEY_APPLIED);
    return true;
  }
}
