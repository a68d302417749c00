// The table: a hash index over fixed-size slots with expiry (the uWSGI cache
// design) whose items (key, then value) span chains of fixed-size blocks
// (HAProxy shctx; see layout.h for the allocator's rules), living in one
// Segment.
//
// - Lookup is lock-free (see layout.h for the seqlock protocol): it copies the
//   value out and confirms the slot did not change meanwhile, retrying a
//   bounded number of times; a racing writer can cause a miss, never a wrong
//   value.
// - set / delete / sweep / eviction hold the segment's write lock.
// - When the table is full, set evicts: it samples kEvictionSample slots from a
//   rotating hand and drops the one closest to expiry (with one timeout for all
//   items that is the oldest one). Sampling keeps eviction O(1) without an LRU
//   list, which would make every read a write.
// - Every loop over a chain is bounded, so a corrupt or changing chain ends the
//   walk instead of spinning: a lock-free lookup walks at most kMaxChainSteps
//   links per attempt (chains average one link: a bucket per slot, keyed
//   hash), writers at most `items`.
// - Writes on the handshake path wait for the lock at most kLockTimeoutMs.
//   After a wait during which one process held the lock throughout (stopped
//   by SIGSTOP, or in a long job such as recovering a large table), this
//   attachment fails fast (one trylock, no wait) until it sees the lock free
//   again (it gets it, or Header::lock_acquisitions shows that someone did),
//   so such a holder costs others dropped sessions, not frozen event loops. A
//   wait that saw the lock change hands (contention) does not back off.
#pragma once

#include <cstddef>
#include <cstdint>

#include "atomics.h"
#include "chain.h"
#include "layout.h"
#include "lock.h"
#include "outbox.h"

namespace tlsshm {

class Segment;

constexpr uint32_t kLockTimeoutMs = 50;    // longest wait for the write lock
constexpr uint32_t kReadAttempts = 64;      // lock-free read retries before a miss
constexpr uint32_t kMaxChainSteps = 64;     // links walked per lookup attempt
constexpr uint32_t kProgressEvery = 1u << 16;  // slots rebuilt per lock_progress bump
constexpr uint32_t kEvictionSample = 8;     // slots compared per eviction
constexpr uint32_t kSweepSlice = 4096;      // slots examined per lock hold

enum class GetResult { kHit, kMiss, kExpired };
enum class SetResult { kInserted, kReplaced, kTooLarge, kLockFailed };

class Table {
 public:
  // `counters` is the calling process's stripe; the table counts into it.
  explicit Table(const Segment& segment, uint64_t* counters = nullptr);

  // Creator only, before anyone else maps the segment: every slot free.
  void FormatSlots();
  // Rebuilds the chains and the free list from the slots themselves, dropping
  // any slot a dead writer left half written. The caller holds the write lock
  // (after EOWNERDEAD) or is the only process attached.
  void Rebuild();

  // Copies the value for `key` into `out` (room for max_value_bytes bytes).
  GetResult Get(const uint8_t* key, size_t key_length, uint8_t* out, uint32_t* value_length,
                uint64_t now_ms) const;
  SetResult Set(const uint8_t* key, size_t key_length, const uint8_t* value,
                size_t value_length, uint64_t expires_at_ms, uint64_t now_ms);
  // False if the key was not there (or the lock could not be had).
  bool Delete(const uint8_t* key, size_t key_length);
  // Frees expired slots, kSweepSlice at a time; returns how many were freed.
  uint32_t Sweep(uint64_t now_ms);

  // The write lock with this table's recovery; true when held. Waits at most
  // kLockTimeoutMs, or not at all while this attachment is backing off from a
  // stuck holder.
  bool Lock();
  void Unlock();
  bool backing_off() const { return LoadRelaxed(backing_off_) != 0; }
  // Whether the last failed wait saw the holder at work (lock_progress moved):
  // busy (a rebuild), as opposed to stopped.
  bool last_wait_busy() const { return LoadRelaxed(last_wait_busy_) != 0; }

  uint32_t used() const;
  uint32_t items() const { return items_; }
  uint32_t blocksize() const { return blocksize_; }
  uint32_t blocks() const { return blocks_count_; }
  uint32_t max_value_bytes() const { return max_value_bytes_; }
  uint32_t blocks_free() const { return LoadRelaxed(header_->blocks_free); }
  uint64_t bytes_stored() const { return LoadRelaxed(header_->bytes_stored); }

  // The stored hash of a key and the bucket it selects (for tests and tools).
  uint32_t HashOf(const uint8_t* key, size_t key_length) const;
  uint32_t BucketOf(uint32_t hash) const { return uint32_t((uint64_t(hash) * bucket_count_) >> 32); }

 private:
  SlotMeta* Meta(uint32_t index) const {
    return reinterpret_cast<SlotMeta*>(meta_ + uint64_t(index) * meta_stride_);
  }
  uint32_t BlocksOf(const SlotMeta* m) const {
    return chain_.BlocksFor(LoadRelaxed(m->key_length), LoadRelaxed(m->value_length));
  }
  // Under the write lock: takes `n` blocks off the free list as a chain and
  // returns its first block + 1 (0 for n == 0, or if fewer are free); gives a
  // slot's chain back.
  uint32_t AllocateChain(uint32_t n);
  void FreeChain(uint32_t first, uint32_t n);
  uint32_t* Bucket(uint32_t hash) const { return buckets_ + BucketOf(hash); }

  // Under the write lock:
  // Copies the key of used slot `index` into `out` (room for max_key_length
  // bytes) and returns its length, 0 if its chain is broken.
  uint32_t KeyOf(uint32_t index, uint8_t* out) const;
  bool KeyEquals(uint32_t index, const uint8_t* key, size_t key_length) const;
  uint32_t Find(uint32_t hash, const uint8_t* key, size_t key_length) const;  // slot + 1 or 0
  void Unchain(uint32_t index);
  void Free(uint32_t index);
  uint32_t Evict(uint64_t now_ms);  // returns a free slot + 1, or 0
  void Count(Counter c, uint64_t n = 1) const;
  static void RecoverAfterDeadWriter(void* table);

  Header* header_;
  uint64_t hash_key_[2];
  uint32_t backing_off_ = 0;  // 1 after a whole wait against one holder
  uint64_t stuck_at_acquisitions_ = 0;  // lock_acquisitions when that wait ended
  uint32_t last_wait_busy_ = 0;
  uint32_t* buckets_;
  uint8_t* meta_;
  ChainArea chain_;  // the blocks and their links
  uint64_t* counters_;
  uint32_t blocks_count_;
  uint32_t max_value_bytes_;
  uint32_t items_;
  uint32_t blocksize_;
  uint32_t max_key_length_;
  uint32_t bucket_count_;
  uint32_t meta_stride_;
  Outbox outbox_;  // Set records what it stored, for the cross-host tier
};

}  // namespace tlsshm
