/**
 * Text views of a statistics document for the `tls-shm-cache stats` command:
 * a one-shot table, and the live view that `--watch` redraws in place with
 * rates between two polls (uwsgitop's idea). Plain ASCII, at most 80 columns.
 */
import { TLS_VERSIONS, type TlsVersion } from '../core/counters';
import type { HandshakeRow, RemoteSection, StatsDocument } from './document';

/** 12345 -> "12,345". */
export function formatCount(n: number): string {
  const [whole, fraction] = String(Math.round(n * 1000) / 1000).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction ? `${grouped}.${fraction}` : grouped;
}

/** 0.9712 -> "97.1%"; null (nothing to divide) -> "-". */
export function formatPercent(r: number | null): string {
  return r === null ? '-' : `${(r * 100).toFixed(1)}%`;
}

/** Seconds -> "3d 04h", "1h 02m 03s", "12m 03s", "45s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (v: number) => String(v).padStart(2, '0');
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s % 60)}s`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

/** Bytes -> "512 B", "1.0 KiB", "21.3 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Seconds -> "1.25 s", or "0.120 ms" below a second (a sweep takes microseconds). */
export function formatSeconds(seconds: number): string {
  return seconds >= 1 ? `${seconds.toFixed(2)} s` : `${(seconds * 1000).toFixed(3)} ms`;
}

function formatRate(perSecond: number): string {
  return perSecond.toFixed(1);
}

/** Rows laid out in columns: the first left-aligned, the rest right-aligned. */
function columns(rows: string[][], gap = 2): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join(' '.repeat(gap))
      .trimEnd(),
  );
}

/** Name and value pairs, the values left-aligned in one column. */
function keyValues(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([k]) => k.length)) + 3;
  return rows.map(([k, v]) => k.padEnd(width) + v);
}

/** TLS 1.2 and 1.3 always; the old versions only when they saw a handshake. */
function shownVersions(doc: StatsDocument): TlsVersion[] {
  return TLS_VERSIONS.filter((v) => v === 'TLSv1.2' || v === 'TLSv1.3' || doc.handshakes[v].total > 0);
}

function ticketKeyText(doc: StatsDocument): string {
  const t = doc.ticketKey;
  if (t.generation === 0) return "none (each process keeps Node's own key)";
  const age = t.ageSeconds === null ? '' : `, age ${formatDuration(t.ageSeconds)}`;
  const keys = t.keys === undefined ? '' : `, ${t.keys} keys`;
  return `${ticketModeText(doc)}: generation ${t.generation}${age}${keys}, applied ${formatCount(t.applied)} times`;
}

/** The ticket mode as the CLI prints it (documents from older servers have none). */
function ticketModeText(doc: StatsDocument): string {
  const mode = doc.ticketKey.mode;
  if (mode === 'single-key') return 'single-key fallback';
  return mode ?? 'ring';
}

/** The cross-host tier's part of the table. */
function remoteLines(r: RemoteSection): string[] {
  const dropped = Object.entries(r.dropped)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${why} ${formatCount(n)}`);
  return keyValues([
    ['remote', `${r.connected ? 'connected' : 'NOT connected'} as ${r.hostId} (${formatCount(r.disconnects)} disconnects)`],
    ['replication lag', r.lagMs ? `p50 ${r.lagMs.p50} ms, p99 ${r.lagMs.p99} ms, max ${r.lagMs.max} ms` : 'no session applied yet'],
    ['sessions', `published ${formatCount(r.published)}, applied ${formatCount(r.applied)}, skipped (expired) ${formatCount(r.skipped)}, missed ${formatCount(r.missed)}`],
    ['dropped', dropped.length ? dropped.join(', ') : 'none'],
    ['ticket ring', `${r.ring.source}, generation ${r.ring.generation} (${r.ring.kind}), re-seeded ${r.ring.reseeded} times`],
  ]);
}

function stamp(doc: StatsDocument): string {
  return new Date(doc.time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The one-shot table of `tls-shm-cache stats`. */
export function formatSnapshot(doc: StatsDocument, source: string): string {
  const c = doc.cache;
  const cap = doc.capacity;
  const processes =
    `${doc.processes.attached} attached` + (doc.processes.maintainerPid ? ` (maintainer pid ${doc.processes.maintainerPid})` : '');
  const summary = keyValues([
    ['uptime', formatDuration(doc.uptimeSeconds)],
    ['processes', processes],
    ['items in use', `${formatCount(cap.used)} of ${formatCount(cap.items)} (${formatPercent(cap.usedRatio)})`],
    [
      'slots',
      `keys ≤ ${cap.maxKeyLength} B, values ≤ ${formatBytes(cap.maxValueBytes)}, ttl ${cap.timeoutSeconds} s, ` +
        `${formatBytes(cap.memoryBytes)} shared`,
    ],
    [
      'blocks in use',
      `${formatCount(cap.blocksUsed)} of ${formatCount(cap.blocks)} × ${formatBytes(cap.blocksize)} ` +
        `(${formatBytes(cap.bytesStored)} of sessions stored)`,
    ],
    ['lookups', `${formatCount(c.lookups)} (hits ${formatCount(c.hits)}, misses ${formatCount(c.misses)})`],
    ['hit ratio', formatPercent(c.hitRatio)],
    ['sets', `${formatCount(c.sets)} (replaced ${formatCount(c.replaced)})`],
    ['deletes', formatCount(c.deletes)],
    ['evictions', formatCount(c.evictions)],
    ['expired', formatCount(c.expired)],
    ['too large', formatCount(c.tooLarge)],
    ['errors', formatCount(c.errors)],
    ['recoveries', formatCount(c.recoveries)],
    ['sweeps', `${formatCount(doc.sweep.runs)} (${formatSeconds(doc.sweep.seconds)} in total)`],
    ['ticket key', ticketKeyText(doc)],
    ['tickets', `${formatCount(doc.ticketKey.renewed ?? 0)} renewed, ${formatCount(doc.ticketKey.unknownKey ?? 0)} under unknown keys`],
  ]);
  const row = (name: string, r: HandshakeRow) => [
    name,
    formatCount(r.full),
    formatCount(r.cache),
    formatCount(r.ticket),
    formatCount(r.total),
    formatPercent(r.resumptionRate),
  ];
  const handshakes = columns([
    ['handshakes', 'full', 'cache', 'ticket', 'total', 'resumed'],
    ...shownVersions(doc).map((v) => row(v, doc.handshakes[v])),
    row('all', doc.handshakeTotals),
  ]);
  const notes: string[] = [];
  if (doc.tls13SessionsSkipped > 0) {
    notes.push(`TLS 1.3 sessions not stored (no store can resume them): ${formatCount(doc.tls13SessionsSkipped)}`);
  }
  if (doc.otherVersionHandshakes > 0) notes.push(`handshakes of other TLS versions: ${formatCount(doc.otherVersionHandshakes)}`);
  const remote = doc.remote ? ['', ...remoteLines(doc.remote)] : [];
  return [`tls-shm-cache  ${source}  ${stamp(doc)}`, '', ...summary, '', ...handshakes, ...notes, ...remote, ''].join('\n');
}

/** True when `cur` continues `prev`: same segment, clock moved forward, no counter went back. */
function continues(prev: StatsDocument, cur: StatsDocument): boolean {
  return (
    prev.createdAt === cur.createdAt &&
    cur.time > prev.time &&
    cur.cache.lookups >= prev.cache.lookups &&
    cur.handshakeTotals.total >= prev.handshakeTotals.total
  );
}

export interface LiveViewOptions {
  /** Where the document came from, shown in the title. */
  source: string;
  /** Seconds between polls, shown in the title. */
  intervalSeconds: number;
  /** The last poll failed: this says why (the figures shown are the last good ones). */
  error?: string;
}

/**
 * One frame of the live view: totals since start beside rates over the time
 * between `prev` and `cur` (per second, and ratios of what happened in it).
 * Without a usable `prev` (first poll, restarted server) the interval column
 * shows "-".
 */
export function formatLive(cur: StatsDocument, prev: StatsDocument | undefined, options: LiveViewOptions): string {
  const ok = prev !== undefined && continues(prev, cur);
  const dt = ok ? (cur.time - prev.time) / 1000 : 0;
  const perSecond = (pick: (d: StatsDocument) => number) => (ok ? formatRate((pick(cur) - pick(prev)) / dt) : '-');
  const overInterval = (num: (d: StatsDocument) => number, den: (d: StatsDocument) => number) => {
    if (!ok) return '-';
    const d = den(cur) - den(prev);
    return formatPercent(d > 0 ? (num(cur) - num(prev)) / d : null);
  };
  const intervalHeader = ok ? `last ${dt.toFixed(1)} s` : 'last poll';
  const c = cur.cache;
  const cap = cur.capacity;

  const title =
    `tls-shm-cache  ${options.source}  every ${options.intervalSeconds} s  ${stamp(cur)}`;
  const status =
    `uptime ${formatDuration(cur.uptimeSeconds)}   processes ${cur.processes.attached}   ` +
    `items ${formatCount(cap.used)}/${formatCount(cap.items)} (${formatPercent(cap.usedRatio)})   ` +
    (cur.ticketKey.generation === 0
      ? 'ticket key: none'
      : `tickets ${ticketModeText(cur)} gen ${cur.ticketKey.generation}` +
        (cur.ticketKey.ageSeconds === null ? '' : ` (${formatDuration(cur.ticketKey.ageSeconds)})`));

  const counters = columns(
    [
      ['', 'since start', intervalHeader],
      ['lookups', formatCount(c.lookups), `${perSecond((d) => d.cache.lookups)}/s`],
      ['hit ratio', formatPercent(c.hitRatio), overInterval((d) => d.cache.hits, (d) => d.cache.lookups)],
      ['sets', formatCount(c.sets), `${perSecond((d) => d.cache.sets)}/s`],
      ['evictions', formatCount(c.evictions), `${perSecond((d) => d.cache.evictions)}/s`],
      ['expired', formatCount(c.expired), `${perSecond((d) => d.cache.expired)}/s`],
      ['too large', formatCount(c.tooLarge), `${perSecond((d) => d.cache.tooLarge)}/s`],
      ['errors', formatCount(c.errors), `${perSecond((d) => d.cache.errors)}/s`],
      ['handshakes', formatCount(cur.handshakeTotals.total), `${perSecond((d) => d.handshakeTotals.total)}/s`],
      [
        'resumed',
        formatPercent(cur.handshakeTotals.resumptionRate),
        overInterval((d) => d.handshakeTotals.resumed, (d) => d.handshakeTotals.total),
      ],
    ],
    3,
  );

  const versions = shownVersions(cur);
  const byVersion = columns([
    ['version', 'full', 'cache', 'ticket', 'handshakes/s', 'resumed', `resumed ${intervalHeader}`],
    ...versions.map((v) => {
      const r = cur.handshakes[v];
      return [
        v,
        formatCount(r.full),
        formatCount(r.cache),
        formatCount(r.ticket),
        perSecond((d) => d.handshakes[v].total),
        formatPercent(r.resumptionRate),
        overInterval((d) => d.handshakes[v].resumed, (d) => d.handshakes[v].total),
      ];
    }),
  ]);

  const lines = [title, status, '', ...counters, '', ...byVersion, ''];
  const r = cur.remote;
  if (r) {
    const dropped = Object.values(r.dropped).reduce((a, b) => a + b, 0);
    lines.push(
      `remote ${r.connected ? 'connected' : 'NOT connected'}   lag p50 ${r.lagMs ? `${r.lagMs.p50} ms` : '-'} p99 ${r.lagMs ? `${r.lagMs.p99} ms` : '-'}   ` +
        `published ${perSecond((d) => d.remote?.published ?? 0)}/s   applied ${perSecond((d) => d.remote?.applied ?? 0)}/s   ` +
        `dropped ${formatCount(dropped)}   missed ${formatCount(r.missed)}   ring ${r.ring.source} gen ${r.ring.generation}`,
      '',
    );
  }
  if (options.error) lines.push(`! ${options.error} (showing the last figures; retrying)`);
  else lines.push('q or Ctrl-C quits');
  return lines.join('\n') + '\n';
}
