/**
 * The housekeeping of one segment: sweep expired slots and rotate the ticket
 * key, done by exactly one process at a time.
 *
 * Who does it: the process holding the segment's maintenance lease (pid and
 * renewal time in the header, taken under the segment's write lock). In a
 * cluster the primary takes it and keeps it; in masterless mode every process
 * runs a Maintenance and the lease elects one of them. A holder that dies is
 * replaced at the next tick of any other process (its pid is gone); one that
 * hangs (event loop blocked) is replaced once its lease is `staleMs` old, and
 * steps down at its own next tick because the lease then names another pid.
 *
 * Timers are unref'd: maintenance never keeps a process alive.
 */
import { rotateTicketRing, SuppliedTicketKeys } from './ticket-ring';
import type { SharedCache } from '../core/shared-cache';

/** The longest pause between two ticks, in ms: how late a takeover or a rotation can be. */
const MAX_TICK_MS = 5000;
/** A lease not renewed for this long (ms) is taken over even if its holder seems alive. */
const MIN_STALE_MS = 15000;

export interface MaintenanceOptions {
  /** Milliseconds between sweeps. */
  sweepIntervalMs: number;
  /** Milliseconds between ticket key rotations; null: never rotate (no keys, or supplied keys). */
  rotateMs: number | null;
  /** Operator-supplied keys: published instead of rotating, again whenever a key file changes. */
  ticketKeys?: SuppliedTicketKeys;
  /** Told when this process gains (true) or loses (false) the lease. */
  onLeaseChange?: (holding: boolean) => void;
}

export class Maintenance {
  readonly #cache: SharedCache;
  readonly #options: MaintenanceOptions;
  readonly #tickMs: number;
  readonly #staleMs: number;
  #timer: NodeJS.Timeout | undefined;
  #holding = false;
  #lastSweepAt = 0;
  #warned = false;
  #warnedKeys = false;

  constructor(cache: SharedCache, options: MaintenanceOptions) {
    this.#cache = cache;
    this.#options = options;
    this.#tickMs = Math.max(10, Math.min(options.sweepIntervalMs, options.rotateMs ?? Infinity, MAX_TICK_MS));
    this.#staleMs = Math.max(MIN_STALE_MS, 3 * this.#tickMs);
  }

  /** True while this process holds the lease. */
  get holding(): boolean {
    return this.#holding;
  }

  /**
   * Runs a first tick now (so that a primary publishes the ticket key before
   * it forks anyone) and then every tick interval.
   */
  start(): this {
    if (this.#timer) return this;
    this.#lastSweepAt = Date.now();
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#tickMs);
    this.#timer.unref();
    return this;
  }

  /** Takes or renews the lease; if held, rotates the key when due and sweeps when due. */
  tick(): void {
    try {
      const holding = this.#cache.acquireLease(this.#staleMs);
      if (holding !== this.#holding) {
        this.#holding = holding;
        this.#options.onLeaseChange?.(holding);
      }
      if (!holding) return;
      if (this.#options.ticketKeys) this.#publishSupplied(false);
      else if (this.#options.rotateMs !== null && this.#rotationDue(this.#options.rotateMs)) rotateTicketRing(this.#cache);
      const now = Date.now();
      if (now - this.#lastSweepAt >= this.#options.sweepIntervalMs) {
        this.#lastSweepAt = now;
        this.#cache.sweep();
      }
    } catch (error) {
      // A timer must not throw into the application; say it once and keep trying.
      if (!this.#warned) {
        this.#warned = true;
        process.emitWarning(`tls-shm-cache maintenance failed: ${(error as Error).message}`, {
          type: 'TlsShmCacheWarning',
          code: 'TLS_SHM_MAINTENANCE_FAILED',
        });
      }
    }
  }

  /**
   * Rotates the ring now, or with supplied keys re-reads the key files and
   * publishes them; returns the ring's generation (0 if the lock could not be
   * had). A key file that cannot be read or parsed throws.
   */
  rotateNow(): number {
    if (this.#options.ticketKeys) return this.#options.ticketKeys.publish(this.#cache, true);
    return rotateTicketRing(this.#cache);
  }

  /** Publishes supplied keys when a file changed or the ring is not ours; a bad file keeps the ring and warns once. */
  #publishSupplied(force: boolean): void {
    try {
      this.#options.ticketKeys!.publish(this.#cache, force);
      this.#warnedKeys = false;
    } catch (error) {
      if (!this.#warnedKeys) {
        this.#warnedKeys = true;
        process.emitWarning(
          `tls-shm-cache: the ticket key file could not be used, the keys in use stay: ${(error as Error).message}`,
          'TlsShmCacheWarning',
        );
      }
    }
  }

  /** Stops the timer and gives the lease up so that another process can take it at once. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#holding && !this.#cache.closed) this.#cache.releaseLease();
    if (this.#holding) {
      this.#holding = false;
      this.#options.onLeaseChange?.(false);
    }
  }

  #rotationDue(rotateMs: number): boolean {
    if (this.#cache.ticketKeyGeneration() === 0) return true;
    // The key's age comes from the segment: a key made by an earlier holder
    // (or an earlier run, for a file) counts from when it was made.
    const age = this.#cache.stats().ticketKey.ageSeconds;
    return age === null || age * 1000 >= rotateMs;
  }
}
