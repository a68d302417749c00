// The bytes of one cache segment, as every process that maps it sees them.
//
// A segment is one mapping:
//
//   Header            geometry (fixed at creation), the write lock, the free
//                     list, the ring of ticket keys and the maintenance lease
//   Stripe[kStripes]  per-process counters; a stripe keeps its counts when its
//                     owner leaves and the next owner adds on top; stripe 0 is
//                     shared by processes that found no free stripe
//   uint32 buckets[items]  hash index: slot number + 1 of each chain head,
//                     0 = empty; one bucket per slot, chosen from the hash
//                     by multiply-shift (no power of two to round up to)
//   SlotMeta[items]   32 bytes of metadata per slot, nothing else
//   uint32 links[blocks]  next block + 1 of each block (its chain or the
//                     free list), 0 = end
//   blocks[blocks]    blocks of `blocksize` bytes (the granule) holding each
//                     item's key followed by its value
//
// Items span blocks (HAProxy shctx style): a slot holds the first block + 1 of
// a chain of ceil((KeySpan(key_length) + value_length) / block_stride) blocks
// (chain.h: the key padded to whole 8-byte words, blocksize rounded up to 8),
// linked through links[] (kept apart from the blocks so that a block is all
// payload), that holds the key then the value. Keeping the key in the chain rather than
// in a key area of max_key_length bytes per slot makes memory follow the real
// sizes: a 160-byte session under a 32-byte key is 192 bytes of blocks and
// 36 bytes of slot and bucket (4,409 per MiB of a 16 MiB segment, layout
// included: bench/density). Free
// blocks are one list through the same links (Header::block_free_head), so any
// `n` free blocks will do: there is no fragmentation, and a set refused for
// room is impossible once eviction has freed enough blocks. A set that needs
// more blocks than are free evicts (closest to expiry in a sample, as for
// slots) until enough are free; `blocks * block_stride >=
// KeySpan(max_key_length) + max_value_bytes` is a geometry rule, so evicting
// everything always makes room.
// Allocator rules under the seqlock:
// - A writer pops the blocks it needs from the free list, copies key and value in
//   and links the chain while the slot is odd, and stores first_block before
//   the slot goes even: a reader that sees the slot even sees the whole chain.
// - Only links of free blocks (or of a slot's chain after that slot went odd
//   and was freed) are ever written, so a chain a reader follows under an even
//   seq is never relinked under it; a reader of a slot that is being freed or
//   reused may follow links into anything, but walks at most the chain length
//   the slot announced (each link range-checked) and its final seq check
//   discards the copy.
// - A replace frees the old item first (unchained, seq bumped) and inserts the
//   new one: readers in between miss, they never see a mix.
// - Recovery (EOWNERDEAD, or the first opener alone) does not trust the free
//   list, block_free, or bytes_stored: it keeps the slots whose seq is even and
//   whose chain is whole (every link in range, no block claimed twice), and
//   rebuilds the free list from every block no kept slot owns. A writer killed
//   while popping, copying or pushing blocks therefore leaks nothing and
//   leaves no chain shared by two items.
//   Outbox            the last OutboxBytes(OutboxEntries(items)): a ring of (slot, seq) records that
//                     Table::Set appends under the write lock it already holds,
//                     read by the one process that publishes new sessions to
//                     the cross-host tier (outbox.h; src/remote/). Its own
//                     files, so that the table code only gains one call.
//
// Links are slot numbers + 1, never pointers, because every process maps the
// segment at its own address; 0 means "none".
//
// Who holds what:
// - Writers (set, delete, sweep, eviction, ticket ring, lease) hold
//   Header::write_lock, a robust process-shared mutex. (A stripe is claimed
//   with a compare-and-swap of its owner pid, without the lock.) A writer killed
//   while holding it is detected by the next locker (EOWNERDEAD), which
//   rebuilds the index from the slots (see Table::Rebuild). Lockers wait for a
//   bounded time, measured on the monotonic clock; a holder doing long work
//   (a rebuild) bumps Header::lock_progress, and every acquisition bumps
//   Header::lock_acquisitions, so that waiters can tell a contended lock, a
//   holder at work and a stopped holder apart.
// - Readers take no lock. Each slot has a sequence number (seqlock): a writer
//   makes it odd before it touches the slot's key, value or expiry and even
//   again after, so a reader that sees the same even number before and after
//   its copy has a value that belongs to that key. Every writer, recovery
//   included, follows the same protocol: store seq | 1, change the slot,
//   release-store (seq | 1) + 1. A chain that changes under a reader can only
//   make it miss, never return a foreign value; a walk is bounded by
//   kMaxChainSteps per attempt.
// - Counters are striped per process so that processes never write the same
//   cache line on the hot path. Counts are only ever added, never moved
//   between stripes, so a sum taken at any moment without a lock is at least
//   every earlier sum (monotonic totals), whoever attaches, leaves or dies.
// - Geometry is read once, when the header is validated at open (or written
//   at creation), and every process uses only that private copy: a process
//   that scribbles on the header cannot move another's bounds.
//
// Every field that another process may read concurrently is accessed through
// the atomic helpers in atomics.h, never as a plain load or store.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>

namespace tlsshm {

constexpr char kMagic[8] = {'T', 'L', 'S', 'S', 'H', 'M', 'C', '\0'};
// Bump whenever any struct below or the meaning of a field changes.
// 2: the ticket key became a ring; 3: the outbox at the end; 4: lock ABI,
// lock progress counters, counts never move between stripes; 5: values span
// chained blocks (blocks, max_value_bytes, links[], the block free list);
// 6: keys move from the slot into the chain, 32-byte SlotMeta with a 32-bit
// hash, one bucket per slot, an outbox of items / 16 records (1024..16384).
constexpr uint32_t kLayoutVersion = 6;

constexpr uint32_t kStripes = 128;     // process slots for counters
constexpr uint32_t kCounters = 48;     // u64 counters per stripe
// The session-ticket key ring. Each key is a fixed record, so that the ring is
// one flat array of bytes to copy, compare and (for the cross-host tier)
// serialise. A slot's role is its index:
//   0 next      decrypts only (renewing), so that it reaches every process
//               before anyone encrypts with it; becomes current at rotation
//   1 current   encrypts every new ticket, decrypts
//   2, 3        previous: decrypt and renew (automatic rotation uses 2 only;
//               operator-supplied keys may fill both)
constexpr uint32_t kTicketRingKeys = 4;
constexpr uint32_t kTicketNameBytes = 16;   // key name, sent in the clear in every ticket
constexpr uint32_t kTicketHmacBytes = 32;   // HMAC-SHA256 key
constexpr uint32_t kTicketAesBytes = 16;    // AES-128-CBC key (Node's callback is fixed to it)
constexpr uint32_t kTicketRecordBytes = kTicketNameBytes + kTicketHmacBytes + kTicketAesBytes;  // 64
constexpr uint32_t kTicketRingBytes = kTicketRingKeys * kTicketRecordBytes;                   // 256
constexpr uint32_t kTicketNext = 0;
constexpr uint32_t kTicketCurrent = 1;
constexpr uint32_t kTicketPrevious = 2;
constexpr uint32_t kCacheLine = 64;

// Bounds enforced natively as a backstop to the TypeScript validation.
constexpr uint32_t kMaxItems = 1u << 24;
constexpr uint32_t kMinBlocksize = 16;
constexpr uint32_t kMaxBlocksize = 1u << 20;
constexpr uint32_t kMaxBlocks = 1u << 28;
constexpr uint32_t kMaxValueBytes = 1u << 20;
constexpr uint32_t kMaxKeyLength = 1024;
constexpr uint64_t kMaxSegmentBytes = 16ull << 30;
// The binding takes TTLs in milliseconds as a 32-bit integer.
constexpr uint32_t kMaxDefaultTtlS = 0xffffffffu / 1000u;

// Which C library's pthread_mutex_t lies in the header: a glibc and a musl
// process must never share one (their mutexes differ in size and meaning).
#if defined(__GLIBC__)
constexpr uint32_t kLockAbiLibc = 1;
#else
constexpr uint32_t kLockAbiLibc = 2;  // musl (the other libc Node prebuilds target)
#endif

// Counters that the native core increments itself. Indexes 16..kCounters-1 are
// free for the JavaScript side (handshake counters), which names them.
enum Counter : uint32_t {
  kHits = 0,         // get() found a live item
  kMisses = 1,       // get() found nothing live (expired reads count here too)
  kSets = 2,         // set() stored a value (new or replaced)
  kReplaced = 3,     // set() overwrote an existing key
  kDeletes = 4,      // delete() removed an item
  kEvictions = 5,    // a live item was dropped to make room
  kExpired = 6,      // expired items found on read, swept, or evicted
  kTooLarge = 7,     // set() refused: key or value longer than allowed
  kErrors = 8,       // lock timeouts, unrecoverable locks
  kSweepRuns = 9,    // sweep() calls
  kSweepNanos = 10,  // total time spent in sweep()
  kRecoveries = 11,  // index rebuilds after a writer died holding the lock
  kNativeCounters = 16,
};

struct Stripe {
  uint32_t pid;            // owning process, 0 = free; stripe 0 is never owned
  uint32_t reserved;
  uint64_t attached_at_ms; // when the owner claimed it (wall clock)
  uint64_t counters[kCounters];  // only ever added to, by every owner in turn
  uint8_t pad[kCacheLine - ((16 + 8 * kCounters) % kCacheLine)];
};
static_assert(sizeof(Stripe) % kCacheLine == 0, "stripes must not share cache lines");

struct alignas(kCacheLine) Header {
  // --- fixed at creation, validated by every opener
  char magic[8];             // kMagic
  uint32_t layout_version;   // kLayoutVersion
  uint32_t header_bytes;     // sizeof(Header): catches ABI/architecture mismatch
  uint64_t total_bytes;      // size of the whole mapping
  uint32_t items;            // number of slots
  uint32_t blocksize;        // allocation granule in bytes
  uint32_t blocks;           // number of value blocks
  uint32_t max_value_bytes;  // longest value accepted
  uint32_t max_key_length;   // maximum key length in bytes
  uint32_t default_ttl_s;    // expiry used when set() is given none
  uint32_t bucket_count;     // hash buckets (= items)
  uint32_t meta_stride;      // bytes per slot (sizeof(SlotMeta))
  uint32_t block_stride;     // bytes per value block (blocksize rounded up to 8)
  uint32_t creator_pid;      // process that created the segment
  uint64_t stripes_offset;   // byte offsets of the areas, from the segment start
  uint64_t buckets_offset;
  uint64_t meta_offset;
  uint64_t links_offset;
  uint64_t blocks_offset;
  uint64_t created_at_ms;    // wall clock at creation
  uint64_t hash_key[2];      // SipHash key, random per segment
  uint32_t lock_abi_libc;    // kLockAbiLibc of the creator
  uint32_t lock_abi_bytes;   // sizeof(pthread_mutex_t) of the creator

  // --- mutable; only changed while holding write_lock
  alignas(kCacheLine) pthread_mutex_t write_lock;
  uint32_t free_head;        // first free slot + 1, 0 = none free
  uint32_t used;             // slots holding an item (live or not yet swept)
  uint32_t evict_hand;       // where the next eviction sample starts
  uint32_t init_done;        // 1 once the creator finished initialising
  uint32_t block_free_head;  // first free block + 1, 0 = none free
  uint32_t blocks_free;      // blocks on the free list
  uint64_t bytes_stored;     // sum of value_length over used slots (keys not counted)
  // Bumped by every acquisition of write_lock: a waiter that sees it move
  // knows the lock is contended (it changes hands), not held by one process.
  uint64_t lock_acquisitions;
  // Bumped during long work such as a rebuild, by the lock holder (or by an
  // attaching process, under the attach gate) as it goes: a waiter that sees
  // it move knows the holder is working, not stuck.
  uint64_t lock_progress;

  // --- session ticket key ring, written under write_lock, read through ticket_seq
  alignas(kCacheLine) uint32_t ticket_seq;  // seqlock over the fields below
  uint32_t ticket_present;        // bit i set: ring slot i holds a key
  uint64_t ticket_generation;     // 0 = no ring yet; +1 per change of the ring
  uint64_t ticket_set_at_ms;      // wall clock of the last change
  uint64_t reserved1;
  uint8_t ticket_ring[kTicketRingBytes];  // kTicketRingKeys records: name, HMAC, AES

  // --- maintenance lease: which process sweeps and rotates when there is no
  // cooperating primary. Written under write_lock.
  alignas(kCacheLine) uint32_t lease_pid;  // holder, 0 = none
  uint32_t reserved2;
  uint64_t lease_renewed_ms;               // wall clock of the last renewal
};

struct SlotMeta {
  uint32_t seq;            // seqlock: odd while key/value/expiry change
  uint32_t next;           // next slot + 1 in the bucket chain or free list
  uint32_t hash;           // keyed hash of the key (SipHash-1-3, high 32 bits):
                           // picks the bucket and screens key comparisons
  uint32_t value_length;   // bytes of the value, after the key in the chain
  uint64_t expires_at_ms;  // wall clock expiry; 0 while the slot is free
  uint32_t first_block;    // first block + 1 of the chain (key, then value), 0 = none
  uint16_t key_length;     // bytes of the key, at the start of the chain
  uint16_t state;          // kSlotFree or kSlotUsed
};
static_assert(sizeof(SlotMeta) == 32, "two slots a cache line");

constexpr uint16_t kSlotFree = 0;
constexpr uint16_t kSlotUsed = 1;

}  // namespace tlsshm
