/**
 * The segments this process has open for its attached servers, shared by the
 * servers that use the same one: two servers (two namespaces) on one segment
 * map it once and run one Maintenance, so that a process never competes with
 * itself for the maintenance lease (the lease is held per pid) nor rotates
 * the ticket key twice.
 */
import type { Maintenance } from './maintenance';
import type { SharedCache } from '../core/shared-cache';

export interface AttachedSegment {
  readonly cache: SharedCache;
  /** Present when this process takes part in maintenance (single-process and masterless modes). */
  readonly maintenance?: Maintenance;
  /** Set when this process shares the cache across hosts (the `remote` option): see session-id-context.ts. */
  readonly contextSeed?: string;
  /** The URL of the statistics endpoint while this process serves it. */
  statsUrl(): Promise<string> | undefined;
  /** Stops what `open` started (stats server, maintenance); the cache is closed after it. */
  stop(): void;
}

interface Entry {
  segment: AttachedSegment;
  users: number;
}

const segments = new Map<string, Entry>();

/**
 * The segment known as `key`, opened with `open` if no server of this process
 * uses it yet. Every acquire is paired with one {@link releaseSegment}.
 */
export function acquireSegment(key: string, open: () => AttachedSegment): AttachedSegment {
  let entry = segments.get(key);
  if (!entry) {
    entry = { segment: open(), users: 0 };
    segments.set(key, entry);
  }
  entry.users++;
  return entry.segment;
}

/** The segment known as `key` if this process has it open. */
export function peekSegment(key: string): AttachedSegment | undefined {
  return segments.get(key)?.segment;
}

/** Drops one user; the last one stops maintenance and unmaps the segment. */
export function releaseSegment(key: string): void {
  const entry = segments.get(key);
  if (!entry) return;
  if (--entry.users > 0) return;
  segments.delete(key);
  try {
    entry.segment.stop();
  } finally {
    entry.segment.cache.close();
  }
}
