/**
 * Names of the striped counters in the segment. Slots 0-15 are the native
 * core's (native/layout.h `enum Counter`); 16 and up belong to the TLS layer,
 * which counts handshakes by protocol version and outcome.
 */

export const NativeCounter = {
  hits: 0,
  misses: 1,
  sets: 2,
  replaced: 3,
  deletes: 4,
  evictions: 5,
  expired: 6,
  tooLarge: 7,
  errors: 8,
  sweepRuns: 9,
  sweepNanos: 10,
  recoveries: 11,
} as const;

/** TLS versions that get their own handshake counters, as Node names them. */
export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** How a handshake ended: a full handshake, resumed from the shared cache, or resumed from a ticket. */
export const OUTCOMES = ['full', 'cache', 'ticket'] as const;
export type HandshakeOutcome = (typeof OUTCOMES)[number];

const HANDSHAKE_BASE = 16;

/** Counter slot of a handshake of `version` that ended in `outcome`. */
export function handshakeCounter(version: TlsVersion, outcome: HandshakeOutcome): number {
  return HANDSHAKE_BASE + TLS_VERSIONS.indexOf(version) * OUTCOMES.length + OUTCOMES.indexOf(outcome);
}

/** TLS 1.3 sessions offered to `newSession` that a store can never resume (DESIGN.md), so not stored. */
export const TLS13_SESSIONS_SKIPPED = HANDSHAKE_BASE + TLS_VERSIONS.length * OUTCOMES.length; // 28
/** Handshakes whose version is none of TLS_VERSIONS (should stay 0). */
export const OTHER_VERSION_HANDSHAKES = TLS13_SESSIONS_SKIPPED + 1; // 29
/** Times a server's ticket key was (re)applied from the segment. */
export const TICKET_KEY_APPLIED = OTHER_VERSION_HANDSHAKES + 1; // 30

// The ticket key ring's counters sit at the top of the TLS layer's range.
/** Servers (or new secure contexts) that installed the ring's ticket key callback. */
export const TICKET_RING_INSTALLED = 44;
/** Servers that fell back to one key through setTicketKeys (no enableTicketKeyCallback in this runtime). */
export const TICKET_SINGLE_KEY_INSTALLED = 45;
/** Tickets decrypted and answered "renew": a fresh ticket was issued (TLS 1.3 resumptions, older keys). */
export const TICKET_RENEWED = 46;
/** Tickets whose key name is in no ring: the client got a full handshake. */
export const TICKET_UNKNOWN_KEY = 47;
