/**
 * Counts every completed handshake of an attached server by protocol version
 * and outcome: `full`, `cache` (resumed from a session this cache returned to
 * 'resumeSession') or `ticket` (resumed from a session ticket).
 *
 * Node tells only whether a handshake resumed (isSessionReused()), not how,
 * and 'resumeSession' gives the session ID but not the socket. So hits are
 * remembered by session ID until the handshake that asked for them completes:
 * a resumed TLS 1.2 handshake whose session ID was just returned by the cache
 * resumed from the cache; any other resumed handshake used a ticket (TLS 1.3
 * resumption is always a PSK from a ticket in Node, DESIGN.md).
 */
import type tls from 'node:tls';
import { handshakeCounter, OTHER_VERSION_HANDSHAKES, TLS_VERSIONS, TlsVersion } from '../core/counters';
import { readSession } from './session-der';
import type { SharedCache } from '../core/shared-cache';

/**
 * Hits not yet matched to a completed handshake. A hit whose handshake fails
 * or is refused by OpenSSL never completes: the oldest entries make room.
 */
const MAX_PENDING_HITS = 1024;

export class HandshakeCounter {
  readonly #cache: SharedCache;
  /** Session ID (latin1 string of its bytes) -> hits not yet matched. */
  readonly #pendingHits = new Map<string, number>();
  /** The counter slots per version, computed once. */
  readonly #slots: Map<string, { full: number; cache: number; ticket: number }>;

  constructor(cache: SharedCache) {
    this.#cache = cache;
    this.#slots = new Map(
      TLS_VERSIONS.map((v: TlsVersion) => [
        v,
        { full: handshakeCounter(v, 'full'), cache: handshakeCounter(v, 'cache'), ticket: handshakeCounter(v, 'ticket') },
      ]),
    );
  }

  /** Called by the 'resumeSession' listener when the cache returned a session for `sessionId`. */
  noteHit(sessionId: Buffer): void {
    const key = sessionId.toString('latin1');
    this.#pendingHits.set(key, (this.#pendingHits.get(key) ?? 0) + 1);
    if (this.#pendingHits.size > MAX_PENDING_HITS) {
      const oldest = this.#pendingHits.keys().next().value;
      if (oldest !== undefined) this.#pendingHits.delete(oldest);
    }
  }

  /** Called on 'secureConnection'. */
  count(socket: tls.TLSSocket): void {
    const version = socket.getProtocol() ?? '';
    const slots = this.#slots.get(version);
    if (!slots) {
      this.#cache.count(OTHER_VERSION_HANDSHAKES);
      return;
    }
    if (!socket.isSessionReused()) {
      this.#cache.count(slots.full);
      return;
    }
    const fromCache = version !== 'TLSv1.3' && this.#resumedFromCache(socket);
    this.#cache.count(fromCache ? slots.cache : slots.ticket);
  }

  #resumedFromCache(socket: tls.TLSSocket): boolean {
    // Nothing pending means no cache hit is waiting for its handshake: skip
    // copying the session out (the common case for ticket clients).
    if (this.#pendingHits.size === 0) return false;
    const der = socket.getSession();
    const facts = der && readSession(der);
    if (!facts) return false;
    const key = Buffer.from(facts.sessionId.buffer, facts.sessionId.byteOffset, facts.sessionId.byteLength).toString('latin1');
    const pending = this.#pendingHits.get(key);
    if (pending === undefined) return false;
    if (pending > 1) this.#pendingHits.set(key, pending - 1);
    else this.#pendingHits.delete(key);
    return true;
  }
}
