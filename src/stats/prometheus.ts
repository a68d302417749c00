/**
 * The statistics as Prometheus metrics: one table of metric families, read by
 * two writers, the text exposition served on `GET /metrics` and
 * {@link collectStats}, which hands the same families to an application's own
 * prom-client registry.
 *
 * Ratios (hit ratio, resumption rate) are left out on purpose: a ratio of two
 * counters since start hides recent changes; PromQL computes them over any
 * window from the counters (see the README).
 */
import type { CacheStats } from '../core/shared-cache';
import { OUTCOMES, TLS_VERSIONS } from '../core/counters';
import { buildStatsDocument, type StatsDocument } from './document';

/** Content type of the text exposition format, version 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  /** Full name, `tls_shm_cache_` prefixed; counters end in `_total`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples(doc: StatsDocument): Sample[];
}

const one = (value: number): Sample[] => [{ value }];

/** Every metric, in the order they are served. */
export const METRIC_FAMILIES: readonly MetricFamily[] = [
  {
    name: 'tls_shm_cache_start_time_seconds',
    help: 'When the shared segment was created, in seconds since the epoch.',
    type: 'gauge',
    samples: (d) => one(d.createdAt / 1000),
  },
  {
    name: 'tls_shm_cache_uptime_seconds',
    help: 'Seconds since the shared segment was created.',
    type: 'gauge',
    samples: (d) => one(d.uptimeSeconds),
  },
  {
    name: 'tls_shm_cache_processes_attached',
    help: 'Live processes attached to the segment, the serving process included.',
    type: 'gauge',
    samples: (d) => one(d.processes.attached),
  },
  {
    name: 'tls_shm_cache_capacity_items',
    help: 'Slots in the cache: the most items it holds at once.',
    type: 'gauge',
    samples: (d) => one(d.capacity.items),
  },
  {
    name: 'tls_shm_cache_items',
    help: 'Slots holding an item (expired ones count until swept or reused).',
    type: 'gauge',
    samples: (d) => one(d.capacity.used),
  },
  {
    name: 'tls_shm_cache_blocksize_bytes',
    help: 'The allocation granule: a value (TLS session) takes ceil(size / blocksize) blocks.',
    type: 'gauge',
    samples: (d) => one(d.capacity.blocksize),
  },
  {
    name: 'tls_shm_cache_capacity_blocks',
    help: 'Value blocks in the cache.',
    type: 'gauge',
    samples: (d) => one(d.capacity.blocks),
  },
  {
    name: 'tls_shm_cache_blocks_used',
    help: 'Blocks holding values now.',
    type: 'gauge',
    samples: (d) => one(d.capacity.blocksUsed),
  },
  {
    name: 'tls_shm_cache_stored_bytes',
    help: 'Bytes of the values held now (the sum of their sizes).',
    type: 'gauge',
    samples: (d) => one(d.capacity.bytesStored),
  },
  {
    name: 'tls_shm_cache_max_value_bytes',
    help: 'The longest value (TLS session) accepted, in bytes.',
    type: 'gauge',
    samples: (d) => one(d.capacity.maxValueBytes),
  },
  {
    name: 'tls_shm_cache_max_key_length_bytes',
    help: 'Longest key accepted, in bytes.',
    type: 'gauge',
    samples: (d) => one(d.capacity.maxKeyLength),
  },
  {
    name: 'tls_shm_cache_timeout_seconds',
    help: 'Default time to live of an item, in seconds.',
    type: 'gauge',
    samples: (d) => one(d.capacity.timeoutSeconds),
  },
  {
    name: 'tls_shm_cache_memory_bytes',
    help: 'Size of the shared memory mapping, in bytes.',
    type: 'gauge',
    samples: (d) => one(d.capacity.memoryBytes),
  },
  {
    name: 'tls_shm_cache_hits_total',
    help: 'Lookups that found a live item.',
    type: 'counter',
    samples: (d) => one(d.cache.hits),
  },
  {
    name: 'tls_shm_cache_misses_total',
    help: 'Lookups that found no live item.',
    type: 'counter',
    samples: (d) => one(d.cache.misses),
  },
  {
    name: 'tls_shm_cache_sets_total',
    help: 'Values stored, new or replacing.',
    type: 'counter',
    samples: (d) => one(d.cache.sets),
  },
  {
    name: 'tls_shm_cache_replaced_total',
    help: 'Stores that overwrote an existing key.',
    type: 'counter',
    samples: (d) => one(d.cache.replaced),
  },
  {
    name: 'tls_shm_cache_deletes_total',
    help: 'Items deleted.',
    type: 'counter',
    samples: (d) => one(d.cache.deletes),
  },
  {
    name: 'tls_shm_cache_evictions_total',
    help: 'Live items dropped to make room because the cache was full.',
    type: 'counter',
    samples: (d) => one(d.cache.evictions),
  },
  {
    name: 'tls_shm_cache_expired_total',
    help: 'Expired items found by a read, the sweeper or eviction.',
    type: 'counter',
    samples: (d) => one(d.cache.expired),
  },
  {
    name: 'tls_shm_cache_too_large_total',
    help: 'Keys or values refused because they were longer than allowed.',
    type: 'counter',
    samples: (d) => one(d.cache.tooLarge),
  },
  {
    name: 'tls_shm_cache_errors_total',
    help: 'Failed writes (write lock time-outs).',
    type: 'counter',
    samples: (d) => one(d.cache.errors),
  },
  {
    name: 'tls_shm_cache_recoveries_total',
    help: 'Index rebuilds after a process died holding the write lock.',
    type: 'counter',
    samples: (d) => one(d.cache.recoveries),
  },
  {
    name: 'tls_shm_cache_sweep_runs_total',
    help: 'Sweeps of expired items.',
    type: 'counter',
    samples: (d) => one(d.sweep.runs),
  },
  {
    name: 'tls_shm_cache_sweep_seconds_total',
    help: 'Time spent sweeping expired items, in seconds.',
    type: 'counter',
    samples: (d) => one(d.sweep.seconds),
  },
  {
    name: 'tls_shm_cache_ticket_key_generation',
    help: "Generation of the cluster's session-ticket key (0: none, each process keeps its own).",
    type: 'gauge',
    samples: (d) => one(d.ticketKey.generation),
  },
  {
    name: 'tls_shm_cache_ticket_key_age_seconds',
    help: 'Seconds since the current session-ticket key was made (absent while there is none).',
    type: 'gauge',
    samples: (d) => (d.ticketKey.ageSeconds === null ? [] : one(d.ticketKey.ageSeconds)),
  },
  {
    name: 'tls_shm_cache_ticket_key_applied_total',
    help: 'Times a server applied the cluster session-ticket key ring.',
    type: 'counter',
    samples: (d) => one(d.ticketKey.applied),
  },
  {
    name: 'tls_shm_cache_ticket_keys',
    help: 'Keys in the session-ticket key ring (next, current, previous).',
    type: 'gauge',
    samples: (d) => one(d.ticketKey.keys ?? 0),
  },
  {
    name: 'tls_shm_cache_ticket_mode',
    help: 'How servers use the ticket key ring: ring (ticket key callback, every key decrypts) or single-key (setTicketKeys fallback); 1 for the mode in use.',
    type: 'gauge',
    samples: (d) => (['ring', 'single-key', 'none'] as const).map((mode) => ({ labels: { mode }, value: d.ticketKey.mode === mode ? 1 : 0 })),
  },
  {
    name: 'tls_shm_cache_tickets_renewed_total',
    help: 'Tickets decrypted and renewed: the client received a fresh ticket.',
    type: 'counter',
    samples: (d) => one(d.ticketKey.renewed ?? 0),
  },
  {
    name: 'tls_shm_cache_tickets_unknown_key_total',
    help: 'Tickets under a key in no ring (older than two rotations, or from elsewhere): full handshakes.',
    type: 'counter',
    samples: (d) => one(d.ticketKey.unknownKey ?? 0),
  },
  {
    name: 'tls_shm_cache_handshakes_total',
    help: 'TLS handshakes by protocol version and outcome (full, resumed from the cache, resumed from a ticket).',
    type: 'counter',
    samples: (d) =>
      TLS_VERSIONS.flatMap((version) =>
        OUTCOMES.map((outcome) => ({ labels: { version, outcome }, value: d.handshakes[version][outcome] })),
      ),
  },
  {
    name: 'tls_shm_cache_other_version_handshakes_total',
    help: 'TLS handshakes of a protocol version without its own label value (expected to stay 0).',
    type: 'counter',
    samples: (d) => one(d.otherVersionHandshakes),
  },
  {
    name: 'tls_shm_cache_tls13_sessions_skipped_total',
    help: 'TLS 1.3 sessions not stored because no store can resume them (Node resumes TLS 1.3 by ticket only).',
    type: 'counter',
    samples: (d) => one(d.tls13SessionsSkipped),
  },
  // The cross-host tier (present only with the `remote` option).
  {
    name: 'tls_shm_cache_remote_connected',
    help: 'Whether this host is connected to the Redis of the cross-host tier (1) or not (0).',
    type: 'gauge',
    samples: (d) => (d.remote ? one(d.remote.connected ? 1 : 0) : []),
  },
  {
    name: 'tls_shm_cache_remote_lag_milliseconds',
    help: 'Milliseconds from publication on another host to insertion here, over the last 1024 sessions.',
    type: 'gauge',
    samples: (d) =>
      d.remote?.lagMs
        ? [
            { labels: { quantile: '0.5' }, value: d.remote.lagMs.p50 },
            { labels: { quantile: '0.99' }, value: d.remote.lagMs.p99 },
            { labels: { quantile: '1' }, value: d.remote.lagMs.max },
          ]
        : [],
  },
  {
    name: 'tls_shm_cache_remote_sessions_total',
    help: 'Sessions through the cross-host tier: published by this host, applied from others, skipped as expired, missed (trimmed before read).',
    type: 'counter',
    samples: (d) =>
      d.remote
        ? (['published', 'applied', 'skipped', 'missed'] as const).map((what) => ({ labels: { what }, value: d.remote![what] }))
        : [],
  },
  {
    name: 'tls_shm_cache_remote_dropped_total',
    help: 'Stream entries refused and sessions not published, by reason.',
    type: 'counter',
    samples: (d) => (d.remote ? Object.entries(d.remote.dropped).map(([reason, value]) => ({ labels: { reason }, value })) : []),
  },
  {
    name: 'tls_shm_cache_remote_disconnects_total',
    help: 'Times the connection to Redis was lost or could not be made.',
    type: 'counter',
    samples: (d) => (d.remote ? one(d.remote.disconnects) : []),
  },
  {
    name: 'tls_shm_cache_remote_ring_generation',
    help: 'Generation of the fleet ticket-key ring in Redis that this host follows (0 before it has read one).',
    type: 'gauge',
    samples: (d) => (d.remote ? [{ labels: { source: d.remote.ring.source }, value: d.remote.ring.generation }] : []),
  },
];

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return escapeHelp(text).replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** The text exposition (format 0.0.4) of one document: `# HELP`, `# TYPE` and the samples of every family. */
export function renderPrometheus(doc: StatsDocument): string {
  const lines: string[] = [];
  for (const family of METRIC_FAMILIES) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const s of family.samples(doc)) lines.push(`${family.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return lines.join('\n') + '\n';
}

/** What a prom-client metric's `get()` resolves to; the registry formats it. */
export interface PromClientMetricValue {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  aggregator: 'max';
  values: Array<{ value: number; labels: Record<string, string> }>;
}

/**
 * One metric family in the shape prom-client's `Registry.registerMetric`
 * accepts (the shape its own Counter and Gauge have), without prom-client.
 */
export interface PromClientMetric {
  /** Family name; a registry in OpenMetrics mode strips a counter's `_total`. */
  name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  /**
   * How prom-client's AggregatorRegistry merges the workers' values: every
   * process reads the same shared counters, so summing them would multiply;
   * the largest is the freshest.
   */
  readonly aggregator: 'max';
  get(): Promise<PromClientMetricValue>;
  /** The counters live in shared memory and belong to the whole cluster: `registry.resetMetrics()` leaves them alone. */
  reset(): void;
}

/** Where {@link collectStats} reads from: a SharedCache, setupSharedCache()'s result, or a function. */
export type StatsSource = { stats(): CacheStats } | (() => CacheStats);

/**
 * The cache's metrics for an application's own prom-client registry, read
 * afresh on every scrape. prom-client is not needed at run time: the objects
 * have the shape its registry expects.
 *
 * ```ts
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * for (const metric of collectStats(cache)) registry.registerMetric(metric);
 * ```
 *
 * @param source a SharedCache, the object setupSharedCache() returns, or a function returning CacheStats
 * @returns one metric per family of `GET /metrics`, same names, help and labels
 */
export function collectStats(source: StatsSource): PromClientMetric[] {
  let read: () => CacheStats;
  if (typeof source === 'function') read = source;
  else if (source !== null && typeof source === 'object' && typeof source.stats === 'function') read = () => source.stats();
  else {
    throw Object.assign(
      new TypeError('collectStats: source must be a SharedCache, the result of setupSharedCache(), or a function returning CacheStats'),
      { code: 'ERR_INVALID_ARG_TYPE' },
    );
  }
  // A registry asks every metric for its values in one synchronous loop; read
  // the segment once for all of them and forget the snapshot at the next
  // microtask, before any code that awaited the scrape can run, so the next
  // scrape sees fresh counters. (process.nextTick would be too late: inside a
  // promise chain it runs only after the chain's continuations.)
  let current: StatsDocument | undefined;
  const snapshot = (): StatsDocument => {
    if (current === undefined) {
      current = buildStatsDocument(read());
      queueMicrotask(() => {
        current = undefined;
      });
    }
    return current;
  };
  return METRIC_FAMILIES.map((family) => {
    const metric: PromClientMetric = {
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: 'max',
      async get(): Promise<PromClientMetricValue> {
        const values = family.samples(snapshot()).map((s) => ({ value: s.value, labels: { ...s.labels } }));
        return { name: metric.name, help: family.help, type: family.type, aggregator: 'max', values };
      },
      reset(): void {},
    };
    return metric;
  });
}
