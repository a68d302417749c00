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
import { rotateTicketKey } from './ticket-keys';
import type { SharedCache } from '../core/shared-cache';

/** The longest pause between two ticks, in ms: how late a takeover or a rotation can be. */
const MAX_TICK_MS = 5000;
/** A lease not renewed for this long (ms) is taken over even if its holder seems alive. */
const MIN_STALE_MS = 15000;

export interface MaintenanceOptions {
  /** Milliseconds between sweeps. */
  sweepIntervalMs: number;
  /** Milliseconds between ticket key rotations; null: never publish a key. */
  rotateMs: number | null;
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
      if (this.#options.rotateMs !== null && this.#rotationDue(this.#options.rotateMs)) rotateTicketKey(this.#cache);
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

  /** Publishes a new ticket key now; returns its generation (0 if the lock could not be had). */
  rotateNow(): number {
    return rotateTicketKey(this.#cache);
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
