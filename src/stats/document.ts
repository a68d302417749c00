/**
 * The statistics document served as JSON on `GET /stats` and read back by the
 * `tls-shm-cache stats` command: {@link CacheStats} plus the figures people
 * derive from it (uptime, lookups, hit ratio, resumption rates), grouped.
 *
 * It holds counts, sizes and times only. Keys, session bytes, the ticket key
 * and the segment handle never enter it: a document is built field by field
 * from the snapshot, never by spreading it, so a secret added to CacheStats
 * later cannot leak here by accident.
 */
import type { CacheStats } from '../core/shared-cache';
import { OUTCOMES, TLS_VERSIONS, type HandshakeOutcome, type TlsVersion } from '../core/counters';

/** Schema version of {@link StatsDocument}; bumped when a field changes meaning or disappears (new fields do not bump it). */
export const STATS_DOCUMENT_VERSION = 1;

/** Handshakes of one TLS version (or of all of them), by how they ended. */
export interface HandshakeRow extends Record<HandshakeOutcome, number> {
  /** full + cache + ticket. */
  total: number;
  /** cache + ticket: handshakes that skipped the key exchange. */
  resumed: number;
  /** resumed / total, from 0 to 1; null while total is 0. */
  resumptionRate: number | null;
}

/** The cross-host tier, as seen by the process that talks to Redis (the primary, or the lease holder). */
export interface RemoteSection {
  /** This host's name in the stream. */
  hostId: string;
  /** True while the connections to Redis are ready. */
  connected: boolean;
  /** Milliseconds from a session's publication on another host to its insertion here (last 1024 sessions); null before any. */
  lagMs: { p50: number; p99: number; max: number } | null;
  /** Sessions of this host sealed and added to the stream. */
  published: number;
  /** Sessions of other hosts inserted into this host's cache. */
  applied: number;
  /** Entries of other hosts not inserted because they had expired (e.g. read on catch-up). */
  skipped: number;
  /** Entries refused, by reason: `malformed`, `unknownSecret` (sealed with a secret this host lacks), `forged` (authentication failed), and sessions of this host not published: `backlogFull` (Redis away too long), `outboxLost` (the publisher fell behind the outbox). */
  dropped: Record<'malformed' | 'unknownSecret' | 'forged' | 'backlogFull' | 'outboxLost', number>;
  /** Entries of other hosts never seen: trimmed from the stream before this host read them (gaps in a publisher's sequence). */
  missed: number;
  /** Times the connection to Redis was lost or could not be made. */
  disconnects: number;
  /** The ticket-key ring: where this host's keys come from (`redis`, `local` before Redis answered, `none` with tickets off), its generation in Redis, the local kind (`single-key`: the segment's one key), times it was re-seeded into an empty Redis, rotations this host made, promotions of a next key it put off because a live host had not acknowledged it yet. */
  ring: { source: 'redis' | 'local' | 'none'; generation: number; kind: string; reseeded: number; rotations: number; promotionsDeferred: number };
}

/** What `GET /stats` returns. Counters count since the segment was created. */
export interface StatsDocument {
  /** {@link STATS_DOCUMENT_VERSION}. */
  version: number;
  /** When the counters were read, in ms since the epoch (the serving process's clock). */
  time: number;
  /** When the segment was created, in ms since the epoch. */
  createdAt: number;
  /** Seconds since the segment was created. */
  uptimeSeconds: number;
  processes: {
    /** Live processes attached to the segment, the serving process included. */
    attached: number;
    /** Pid of the process that sweeps and rotates the ticket key (the primary, or the lease holder without one); 0 = none. */
    maintainerPid: number;
  };
  capacity: {
    /** Slots: the most items the cache holds at once. */
    items: number;
    /** Slots holding an item (expired ones count until swept or reused). */
    used: number;
    /** items - used. */
    free: number;
    /** used / items, from 0 to 1. */
    usedRatio: number;
    /** The allocation granule in bytes: a session takes ceil(size / blocksize) blocks. */
    blocksize: number;
    /** Value blocks in the segment. */
    blocks: number;
    /** Blocks holding sessions now. */
    blocksUsed: number;
    /** Blocks free now. */
    blocksFree: number;
    /** Bytes of the sessions held now (sum of their sizes). */
    bytesStored: number;
    /** The longest value (session) accepted, in bytes. */
    maxValueBytes: number;
    /** Longest key in bytes. */
    maxKeyLength: number;
    /** Default time to live of an item, in seconds. */
    timeoutSeconds: number;
    /** Size of the shared mapping, in bytes. */
    memoryBytes: number;
  };
  cache: {
    /** hits + misses. */
    lookups: number;
    hits: number;
    misses: number;
    /** hits / lookups, from 0 to 1; null while there was no lookup. */
    hitRatio: number | null;
    /** Values stored (new or replacing). */
    sets: number;
    /** Sets that overwrote an existing key. */
    replaced: number;
    deletes: number;
    /** Live items dropped to make room (the table was full): raise `items` when this grows. */
    evictions: number;
    /** Expired items found by a read, the sweeper or eviction. */
    expired: number;
    /** Keys or values refused for their length: raise `blocksize` when this grows. */
    tooLarge: number;
    /** Failed writes (lock time-outs). */
    errors: number;
    /** Index rebuilds after a process died holding the write lock. */
    recoveries: number;
  };
  sweep: {
    /** Sweeps of expired items. */
    runs: number;
    /** Time spent sweeping, in seconds, in total. */
    seconds: number;
  };
  ticketKey: {
    /** Generation of the cluster's ring of session-ticket keys; 0 = none (Node's own per-process keys). */
    generation: number;
    /** Seconds since the ring last changed (rotation or key file load); null when there is none. */
    ageSeconds: number | null;
    /** Times a server (re)applied the ring from the segment. */
    applied: number;
    /** Keys in the ring (next, current, previous: 3 once rotated twice). */
    keys: number;
    /**
     * `ring`: servers use the ticket key callback (every key of the ring decrypts);
     * `single-key`: a runtime without it, one key through setTicketKeys; `none`: no server yet.
     */
    mode: 'ring' | 'single-key' | 'none';
    /** Tickets decrypted and renewed (a fresh ticket issued). */
    renewed: number;
    /** Tickets under a key in no ring: full handshakes. */
    unknownKey: number;
  };
  /** Handshakes by TLS version and outcome. */
  handshakes: Record<TlsVersion, HandshakeRow>;
  /** The rows of `handshakes` added up. */
  handshakeTotals: HandshakeRow;
  /** TLS 1.3 sessions not stored because no store can resume them (Node resumes TLS 1.3 only by ticket). */
  tls13SessionsSkipped: number;
  /** Handshakes of a protocol version not listed in `handshakes` (expected to stay 0). */
  otherVersionHandshakes: number;
  /** Present when the cache is shared across hosts (the `remote` option). */
  remote?: RemoteSection;
}

/** `numerator / denominator` rounded to 4 decimals, or null when the denominator is 0. */
export function ratio(numerator: number, denominator: number): number | null {
  return denominator > 0 ? round(numerator / denominator, 4) : null;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

function handshakeRow(counts: Record<HandshakeOutcome, number>): HandshakeRow {
  const total = counts.full + counts.cache + counts.ticket;
  const resumed = counts.cache + counts.ticket;
  return { full: counts.full, cache: counts.cache, ticket: counts.ticket, total, resumed, resumptionRate: ratio(resumed, total) };
}

/**
 * Builds the document from one snapshot of the counters.
 * @param stats a snapshot from {@link SharedCache.stats}
 * @param now the time of the snapshot in ms since the epoch (default: now)
 */
export function buildStatsDocument(stats: CacheStats & { remote?: RemoteSection }, now: number = Date.now()): StatsDocument {
  const handshakes = {} as Record<TlsVersion, HandshakeRow>;
  const sums = { full: 0, cache: 0, ticket: 0 } as Record<HandshakeOutcome, number>;
  for (const version of TLS_VERSIONS) {
    const counts = stats.handshakes[version];
    handshakes[version] = handshakeRow(counts);
    for (const outcome of OUTCOMES) sums[outcome] += counts[outcome];
  }
  const lookups = stats.hits + stats.misses;
  return {
    version: STATS_DOCUMENT_VERSION,
    time: now,
    createdAt: stats.createdAt,
    uptimeSeconds: round(Math.max(0, (now - stats.createdAt) / 1000), 3),
    processes: { attached: stats.attached, maintainerPid: stats.maintainerPid },
    capacity: {
      items: stats.items,
      used: stats.used,
      free: Math.max(0, stats.items - stats.used),
      usedRatio: ratio(stats.used, stats.items) ?? 0,
      blocksize: stats.blocksize,
      blocks: stats.blocks,
      blocksUsed: stats.blocksUsed,
      blocksFree: stats.blocksFree,
      bytesStored: stats.bytesStored,
      maxValueBytes: stats.maxValueBytes,
      maxKeyLength: stats.maxKeyLength,
      timeoutSeconds: stats.timeout,
      memoryBytes: stats.memoryBytes,
    },
    cache: {
      lookups,
      hits: stats.hits,
      misses: stats.misses,
      hitRatio: ratio(stats.hits, lookups),
      sets: stats.sets,
      replaced: stats.replaced,
      deletes: stats.deletes,
      evictions: stats.evictions,
      expired: stats.expired,
      tooLarge: stats.tooLarge,
      errors: stats.errors,
      recoveries: stats.recoveries,
    },
    sweep: { runs: stats.sweepRuns, seconds: round(stats.sweepSeconds, 6) },
    ticketKey: {
      generation: stats.ticketKey.generation,
      ageSeconds: stats.ticketKey.ageSeconds === null ? null : round(stats.ticketKey.ageSeconds, 3),
      applied: stats.ticketKey.applied,
      keys: stats.ticketKey.keys,
      mode: stats.ticketKey.mode,
      renewed: stats.ticketKey.renewed,
      unknownKey: stats.ticketKey.unknownKey,
    },
    handshakes,
    handshakeTotals: handshakeRow(sums),
    tls13SessionsSkipped: stats.tls13SessionsSkipped,
    otherVersionHandshakes: stats.otherVersionHandshakes,
    ...(stats.remote ? { remote: stats.remote } : {}),
  };
}
