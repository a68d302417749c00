/**
 * The in-process store: what SharedCache runs on where the native core cannot
 * (macOS and other non-Linux laptops, README "Platforms"). It implements the
 * addon's own interface (NativeCache) in plain TypeScript, so that the
 * SharedCache wrapping it, and everything above it (attach, maintenance,
 * ticket keys, statistics), behaves the same: the same geometry limits, the
 * same refusals of keys and values that are too long, eviction of the item
 * closest to expiry when full, expiry on read and by sweep, the ticket key
 * ring with generations, the maintenance lease, and the same counters.
 *
 * What it cannot do is be shared: it lives in one process's heap, so it has
 * no handle another process could open, and `attached` is always 1.
 */
import type { NativeBinding, NativeCache, NativeOutboxDrain, NativeStats } from './native';
import { SetStatus } from './native';
import { itemBlocks } from './blocks';
import { NativeCounter } from './counters';

/** Counter slots, as native/layout.h kCounters. */
const COUNTER_SLOTS = 48;
/** The ticket key ring, as native/layout.h: 4 records of name 16, HMAC 32, AES 16 bytes. */
const TICKET_RECORD_BYTES = 64;
const TICKET_RING_BYTES = 4 * TICKET_RECORD_BYTES;
const TICKET_NEXT = 0;
const TICKET_CURRENT = 1;
const TICKET_PREVIOUS = 2;
/** How many items eviction samples, from a moving hand (native/slots.cc kEvictionSample). */
const EVICTION_SAMPLE = 8;

interface Item {
  value: Buffer;
  expiresAtMs: number;
  /** Blocks the shared core would give it: its key in whole 8-byte words, then its value (native/chain.h). */
  blocks: number;
}

let nextId = 0;

class InProcessCache implements NativeCache {
  readonly #items = new Map<string, Item>();
  readonly #counters = new Float64Array(COUNTER_SLOTS);
  readonly #geometry: { items: number; blocksize: number; blocks: number; maxValueBytes: number; maxKeyLength: number; timeout: number };
  readonly #createdAtMs = Date.now();
  readonly #handle = `inprocess:${process.pid}.${++nextId}`;
  #slab: Buffer = Buffer.alloc(0);
  #ring: Buffer = Buffer.alloc(TICKET_RING_BYTES);
  #present = 0;
  #generation = 0;
  #ringSetAtMs = 0;
  #leasePid = 0;
  #closed = false;

  constructor(items: number, blocksize: number, blocks: number, maxValueBytes: number, maxKeyLength: number, timeout: number) {
    this.#geometry = { items, blocksize, blocks, maxValueBytes, maxKeyLength, timeout };
  }

  setSlab(slab: Buffer): void {
    this.#slab = slab;
  }

  getInto(key: Uint8Array, offset: number): number {
    const k = this.#keyOf(key);
    const item = k === undefined ? undefined : this.#items.get(k);
    if (!item) {
      this.#counters[NativeCounter.misses]++;
      return -1;
    }
    if (item.expiresAtMs <= Date.now()) {
      // Left in place until swept or evicted, as the native table does (it
      // counts it as expired again then, and `used` includes it until then).
      this.#counters[NativeCounter.expired]++;
      this.#counters[NativeCounter.misses]++;
      return -1;
    }
    item.value.copy(this.#slab, offset);
    this.#counters[NativeCounter.hits]++;
    return item.value.length;
  }

  set(key: Uint8Array, value: Uint8Array, ttlMs: number): SetStatus {
    const k = this.#keyOf(key);
    if (k === undefined || key.length === 0 || value.length > this.#geometry.maxValueBytes) {
      this.#counters[NativeCounter.tooLarge]++;
      return SetStatus.TooLarge;
    }
    const replacing = this.#items.has(k);
    if (replacing) this.#items.delete(k); // re-inserted last: Map order stays insertion order
    else if (this.#items.size >= this.#geometry.items) this.#evict();
    const blocks = itemBlocks(key.length, value.length, this.#geometry.blocksize);
    this.#items.set(k, { value: Buffer.from(value), expiresAtMs: Date.now() + ttlMs, blocks });
    this.#counters[NativeCounter.sets]++;
    if (replacing) this.#counters[NativeCounter.replaced]++;
    return replacing ? SetStatus.Replaced : SetStatus.Inserted;
  }

  delete(key: Uint8Array): boolean {
    const k = this.#keyOf(key);
    const had = k !== undefined && this.#items.delete(k);
    if (had) this.#counters[NativeCounter.deletes]++;
    return had;
  }

  sweep(): number {
    const started = process.hrtime.bigint();
    const now = Date.now();
    let freed = 0;
    for (const [k, item] of this.#items) {
      if (item.expiresAtMs <= now) {
        this.#items.delete(k);
        freed++;
      }
    }
    this.#counters[NativeCounter.expired] += freed;
    this.#counters[NativeCounter.sweepRuns]++;
    this.#counters[NativeCounter.sweepNanos] += Number(process.hrtime.bigint() - started);
    return freed;
  }

  stats(): NativeStats {
    const g = this.#geometry;
    return {
      counters: Float64Array.from(this.#counters),
      attached: this.#closed ? 0 : 1,
      used: this.#items.size,
      items: g.items,
      blocksize: g.blocksize,
      blocks: g.blocks,
      maxValueBytes: g.maxValueBytes,
      // Blocks as the shared core would count them; nothing is reserved here.
      blocksFree: Math.max(0, g.blocks - [...this.#items.values()].reduce((n, item) => n + item.blocks, 0)),
      bytesStored: [...this.#items.values()].reduce((sum, item) => sum + item.value.length, 0),
      maxKeyLength: g.maxKeyLength,
      timeout: g.timeout,
      // What the values take now, not a reservation: nothing is mapped.
      totalBytes: [...this.#items.values()].reduce((sum, item) => sum + item.value.length, 0),
      createdAtMs: this.#createdAtMs,
      ticketGeneration: this.#generation,
      ticketSetAtMs: this.#ringSetAtMs,
      ticketPresent: this.#present,
      leasePid: this.#leasePid,
      handle: this.#handle,
    };
  }

  count(counter: number, n: number): void {
    if (counter >= 0 && counter < COUNTER_SLOTS) this.#counters[counter] += n;
  }

  setTicketRing(ring: Uint8Array, present: number): number {
    if (ring.length !== TICKET_RING_BYTES) return 0;
    this.#publish(Buffer.from(ring), present & 0b1111);
    return this.#generation;
  }

  rotateTicketRing(fresh: Uint8Array): number {
    // The same moves as Cache::RotateTicketRing (native/cache.cc): current
    // becomes previous, next becomes current (or a fresh one), a fresh next.
    if (fresh.length !== 2 * TICKET_RECORD_BYTES) return 0;
    const next = Buffer.alloc(TICKET_RING_BYTES);
    let present = 0;
    const put = (slot: number, record: Uint8Array) => {
      next.set(record, slot * TICKET_RECORD_BYTES);
      present |= 1 << slot;
    };
    const record = (slot: number) => this.#ring.subarray(slot * TICKET_RECORD_BYTES, (slot + 1) * TICKET_RECORD_BYTES);
    if (this.#present & (1 << TICKET_CURRENT)) put(TICKET_PREVIOUS, record(TICKET_CURRENT));
    if (this.#present & (1 << TICKET_NEXT)) put(TICKET_CURRENT, record(TICKET_NEXT));
    else put(TICKET_CURRENT, fresh.subarray(TICKET_RECORD_BYTES));
    put(TICKET_NEXT, fresh.subarray(0, TICKET_RECORD_BYTES));
    this.#publish(next, present);
    return this.#generation;
  }

  ticketRing(): { generation: number; setAtMs: number; present: number; ring: Buffer } | undefined {
    if (this.#generation === 0) return undefined;
    // A copy: the caller zeroes it once applied, as it does the addon's.
    return { generation: this.#generation, setAtMs: this.#ringSetAtMs, present: this.#present, ring: Buffer.from(this.#ring) };
  }

  #publish(ring: Buffer, present: number): void {
    this.#ring.fill(0);
    this.#ring = ring;
    this.#present = present;
    this.#ringSetAtMs = Date.now();
    this.#generation++;
  }

  ticketGeneration(): number {
    return this.#generation;
  }

  acquireLease(): boolean {
    // One process: whoever asks is the maintainer.
    this.#leasePid = process.pid;
    return true;
  }

  releaseLease(): void {
    this.#leasePid = 0;
  }

  // The cross-host tier replicates new sessions from the segment's outbox; an
  // in-process store keeps none (nothing leaves a laptop's process).
  outboxHead(): number {
    return 0;
  }

  drainOutbox(cursor: number): NativeOutboxDrain {
    return { cursor, lost: 0, stale: 0, items: [] };
  }

  unlink(): void {}

  close(): void {
    this.#closed = true;
    this.#items.clear();
    this.#ring.fill(0);
    this.#present = 0;
  }

  /** Keys as latin1 strings (one char per byte); undefined for one longer than maxKeyLength. */
  #keyOf(key: Uint8Array): string | undefined {
    if (key.length > this.#geometry.maxKeyLength) return undefined;
    return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
  }

  /** Drops the item closest to expiry among the oldest few (the native core samples likewise). */
  #evict(): void {
    let victim: string | undefined;
    let soonest = Infinity;
    let n = 0;
    for (const [k, item] of this.#items) {
      if (item.expiresAtMs < soonest) {
        soonest = item.expiresAtMs;
        victim = k;
      }
      if (++n >= EVICTION_SAMPLE) break;
    }
    if (victim === undefined) return;
    this.#items.delete(victim);
    this.#counters[soonest <= Date.now() ? NativeCounter.expired : NativeCounter.evictions]++;
  }
}

/** The in-process store behind the binding's interface: create() only; nothing can be opened by handle. */
export const inProcessBinding: NativeBinding = {
  create(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeoutSeconds) {
    return { cache: new InProcessCache(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeoutSeconds), created: true };
  },
  createMemfd(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeoutSeconds) {
    // Nothing to share: the same in-process store.
    return new InProcessCache(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeoutSeconds);
  },
  open(handle) {
    throw Object.assign(new Error(`${handle}: an in-process cache cannot be opened by another process`), {
      code: 'ERR_TLS_SHM_NOT_FOUND',
    });
  },
  layoutVersion: 0,
  counterSlots: COUNTER_SLOTS,
  headerBytes: 0, // nothing is mapped
};

/** True for the handle of an in-process cache. */
export function isInProcessHandle(handle: string): boolean {
  return handle.startsWith('inprocess:');
}

