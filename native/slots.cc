#include "slots.h"

#include "atomics.h"
#include "cache.h"
#include "segment.h"
#include "siphash.h"
#include "testhook.h"

#include <cstring>
#include <vector>

namespace tlsshm {

Table::Table(const Segment& segment, uint64_t* counters) {
  // Only the segment's private copy of the validated geometry is used, never
  // the live header: a process scribbling on the header cannot move our bounds.
  const Geometry& g = segment.geometry();
  const Layout& l = segment.layout();
  header_ = segment.header();
  hash_key_[0] = segment.hash_key()[0];
  hash_key_[1] = segment.hash_key()[1];
  buckets_ = reinterpret_cast<uint32_t*>(segment.base() + l.buckets_offset);
  meta_ = segment.base() + l.meta_offset;
  chain_ = segment.chain();
  blocks_count_ = g.blocks;
  max_value_bytes_ = g.max_value_bytes;
  counters_ = counters != nullptr ? counters : segment.stripes()[0].counters;
  items_ = g.items;
  blocksize_ = g.blocksize;
  max_key_length_ = g.max_key_length;
  bucket_count_ = l.bucket_count;
  meta_stride_ = l.meta_stride;
  outbox_ = Outbox(segment.base() + l.outbox_offset, l.outbox_entries);
}

uint32_t Table::HashOf(const uint8_t* key, size_t key_length) const {
  return uint32_t(SipHash13(hash_key_, key, key_length) >> 32);
}

uint32_t Table::KeyOf(uint32_t index, uint8_t* out) const {
  const SlotMeta* m = Meta(index);
  const uint32_t key_length = LoadRelaxed(m->key_length);
  if (key_length > max_key_length_ || !chain_.Copy(LoadRelaxed(m->first_block), out, key_length, nullptr, 0)) {
    return 0;
  }
  return key_length;
}

bool Table::KeyEquals(uint32_t index, const uint8_t* key, size_t key_length) const {
  uint8_t stored[kMaxKeyLength];
  return Meta(index)->key_length == key_length && KeyOf(index, stored) == key_length &&
         std::memcmp(stored, key, key_length) == 0;
}

void Table::Count(Counter c, uint64_t n) const { AddRelaxed(counters_[c], n); }

uint32_t Table::used() const { return LoadRelaxed(header_->used); }

void Table::FormatSlots() {
  for (uint32_t i = 0; i < items_; ++i) {
    Meta(i)->next = i + 1 < items_ ? i + 2 : 0;
  }
  header_->free_head = items_ > 0 ? 1 : 0;
  header_->used = 0;
  for (uint32_t b = 0; b < blocks_count_; ++b) chain_.links[b] = b + 1 < blocks_count_ ? b + 2 : 0;
  header_->block_free_head = blocks_count_ > 0 ? 1 : 0;
  header_->blocks_free = blocks_count_;
  header_->bytes_stored = 0;
}

uint32_t Table::AllocateChain(uint32_t n) {
  if (n == 0) return 0;
  if (LoadRelaxed(header_->blocks_free) < n) return 0;
  const uint32_t first = LoadRelaxed(header_->block_free_head);
  uint32_t tail = first;
  for (uint32_t k = 1; k < n; ++k) {
    if (tail == 0 || tail > blocks_count_) return 0;  // corrupt list: refuse, recovery fixes it
    tail = LoadRelaxed(chain_.links[tail - 1]);
  }
  if (tail == 0 || tail > blocks_count_) return 0;
  TLSSHM_TEST_HOOK("alloc.pop");
  StoreRelaxed(header_->block_free_head, LoadRelaxed(chain_.links[tail - 1]));
  StoreRelaxed(chain_.links[tail - 1], 0u);
  StoreRelaxed(header_->blocks_free, LoadRelaxed(header_->blocks_free) - n);
  return first;
}

void Table::FreeChain(uint32_t first, uint32_t n) {
  if (n == 0 || first == 0 || first > blocks_count_) return;
  uint32_t tail = first;
  for (uint32_t k = 1; k < n; ++k) {
    const uint32_t next = LoadRelaxed(chain_.links[tail - 1]);
    if (next == 0 || next > blocks_count_) return;  // corrupt: leave it to recovery
    tail = next;
  }
  TLSSHM_TEST_HOOK("free.push");
  StoreRelaxed(chain_.links[tail - 1], LoadRelaxed(header_->block_free_head));
  StoreRelaxed(header_->block_free_head, first);
  StoreRelaxed(header_->blocks_free, LoadRelaxed(header_->blocks_free) + n);
}

void Table::Rebuild() {
  // Readers may be walking chains while this runs (a recovery after a dead
  // writer): every slot change follows the writers' seqlock protocol, and long
  // runs bump lock_progress so that waiters see a holder at work.
  for (uint32_t b = 0; b < bucket_count_; ++b) {
    StoreRelaxed(buckets_[b], 0u);
    if ((b + 1) % kProgressEvery == 0) AddRelaxed(header_->lock_progress, uint64_t{1});
  }
  uint32_t free_head = 0;
  uint32_t used = 0;
  uint64_t bytes = 0;
  // Which blocks kept slots own; every other block goes back on the free list.
  std::vector<uint8_t> owned(blocks_count_, 0);
  auto claim_chain = [&](SlotMeta* m) {
    if (LoadRelaxed(m->value_length) > max_value_bytes_) return false;
    const uint32_t n = BlocksOf(m);  // >= 1: keys are not empty
    uint32_t b = LoadRelaxed(m->first_block);
    std::vector<uint32_t> chain;
    chain.reserve(n);
    for (uint32_t k = 0; k < n; ++k) {
      if (b == 0 || b > blocks_count_ || owned[b - 1] != 0) {
        for (uint32_t c : chain) owned[c - 1] = 0;
        return false;
      }
      owned[b - 1] = 1;
      chain.push_back(b);
      if (k + 1 < n) b = LoadRelaxed(chain_.links[b - 1]);
    }
    return true;
  };
  for (uint32_t i = items_; i-- > 0;) {
    if (i % kProgressEvery == 0) {
      AddRelaxed(header_->lock_progress, uint64_t{1});
      TLSSHM_TEST_HOOK("rebuild.progress");
    }
    SlotMeta* m = Meta(i);
    const uint32_t seq = LoadRelaxed(m->seq);
    const uint16_t state = LoadRelaxed(m->state);
    const uint16_t key_length = LoadRelaxed(m->key_length);
    bool keep = (seq & 1) == 0 && state == kSlotUsed && key_length >= 1 &&
                key_length <= max_key_length_ && LoadRelaxed(m->expires_at_ms) != 0 && claim_chain(m);
    if (keep) {
      // The stored hash may predate a crash; recompute it from the key (in
      // the chain just claimed whole). Only `hash` and `next` change, both
      // re-checked by readers under seq.
      uint8_t key[kMaxKeyLength];
      KeyOf(i, key);
      const uint32_t hash = HashOf(key, key_length);
      const uint32_t odd = seq | 1;
      StoreRelaxed(m->seq, odd);
      FenceRelease();
      StoreRelaxed(m->hash, hash);
      StoreRelaxed(m->next, LoadRelaxed(*Bucket(hash)));
      StoreRelease(m->seq, odd + 1);
      StoreRelease(*Bucket(hash), i + 1);
      ++used;
      bytes += LoadRelaxed(m->value_length);
    } else if ((seq & 1) == 0 && state == kSlotFree) {
      // Free already: readers never follow a free slot, so only its free-list
      // link changes (this keeps a rebuild of a mostly empty table cheap).
      StoreRelaxed(m->next, free_head);
      free_head = i + 1;
    } else {
      // Half written: odd first (a reader that loaded a link to this slot
      // before the rebuild must not see it whole), change, then even again
      // with a number that differs from anything a reader saw before.
      const uint32_t odd = seq | 1;
      StoreRelaxed(m->seq, odd);
      FenceRelease();
      TLSSHM_TEST_HOOK("rebuild.free");
      StoreRelaxed(m->state, kSlotFree);
      StoreRelaxed(m->expires_at_ms, uint64_t{0});
      StoreRelaxed(m->key_length, uint16_t{0});
      StoreRelaxed(m->value_length, 0u);
      StoreRelaxed(m->first_block, 0u);
      StoreRelaxed(m->next, free_head);
      StoreRelease(m->seq, odd + 1);
      free_head = i + 1;
    }
  }
  StoreRelaxed(header_->free_head, free_head);
  StoreRelaxed(header_->used, used);
  // Readers never follow a free block's link under an even seq (layout.h), so
  // the free list is rewritten plainly.
  uint32_t block_head = 0;
  uint32_t blocks_free = 0;
  for (uint32_t b = blocks_count_; b-- > 0;) {
    if ((b + 1) % kProgressEvery == 0) AddRelaxed(header_->lock_progress, uint64_t{1});
    if (owned[b] != 0) continue;
    StoreRelaxed(chain_.links[b], block_head);
    block_head = b + 1;
    ++blocks_free;
  }
  StoreRelaxed(header_->block_free_head, block_head);
  StoreRelaxed(header_->blocks_free, blocks_free);
  StoreRelaxed(header_->bytes_stored, bytes);
}

void Table::RecoverAfterDeadWriter(void* table) {
  Table* t = static_cast<Table*>(table);
  t->Rebuild();
  // A ticket ring update cut short: fresh keys, never the torn bytes (cache.h).
  RepairTicketRing(t->header_);
  t->Count(kRecoveries);
}

bool Table::Lock() {
  // Backing off from a holder that kept the lock through a whole wait: one
  // attempt, no wait, until the lock is seen free again, that is until this
  // attempt gets it or anyone else did since (lock_acquisitions moved).
  const uint64_t acquisitions = LoadRelaxed(header_->lock_acquisitions);
  if (backing_off() && acquisitions != LoadRelaxed(stuck_at_acquisitions_)) {
    StoreRelaxed(backing_off_, 0u);
  }
  const uint32_t timeout = backing_off() ? 0 : kLockTimeoutMs;
  const LockStatus status = LockRobust(&header_->write_lock, timeout, &header_->lock_progress,
                                       &RecoverAfterDeadWriter, this);
  switch (status) {
    case LockStatus::kLocked:
    case LockStatus::kRecovered:
      AddRelaxed(header_->lock_acquisitions, uint64_t{1});
      StoreRelaxed(backing_off_, 0u);
      return true;
    case LockStatus::kTimedOut:
    case LockStatus::kBusy:
      // The lock changed hands during the wait: contended, and this wait was
      // just unlucky (a holder descheduled on a loaded machine); wait again
      // next time. Otherwise one process held it throughout, stopped (kTimedOut)
      // or in a long job such as a rebuild (kBusy): neither ends within a
      // handshake, so fail fast until it lets go.
      if (LoadRelaxed(header_->lock_acquisitions) == acquisitions) {
        StoreRelaxed(stuck_at_acquisitions_, acquisitions);
        StoreRelaxed(backing_off_, 1u);
      }
      StoreRelaxed(last_wait_busy_, status == LockStatus::kBusy ? 1u : 0u);
      Count(kErrors);
      return false;
    default:
      Count(kErrors);
      return false;
  }
}

void Table::Unlock() { UnlockRobust(&header_->write_lock); }

GetResult Table::Get(const uint8_t* key, size_t key_length, uint8_t* out, uint32_t* value_length,
                     uint64_t now_ms) const {
  if (key_length == 0 || key_length > max_key_length_) {
    Count(kMisses);
    return GetResult::kMiss;
  }
  const uint32_t hash = HashOf(key, key_length);
  uint8_t stored_key[kMaxKeyLength];
  for (uint32_t attempt = 0; attempt < kReadAttempts; ++attempt) {
    uint32_t link = LoadAcquire(*Bucket(hash));
    bool changed = false;
    for (uint32_t steps = 0; link != 0 && !changed; ++steps) {
      TLSSHM_TEST_HOOK("get.step");
      if (link > items_ || steps >= kMaxChainSteps) {
        // A link from a half-rebuilt chain, or a chain far longer than a keyed
        // hash makes (corrupt, or cut into a cycle): start over, boundedly.
        changed = true;
        break;
      }
      const uint32_t i = link - 1;
      SlotMeta* m = Meta(i);
      TLSSHM_TEST_HOOK("get.link");
      const uint32_t seq = LoadAcquire(m->seq);
      if ((seq & 1) != 0 || LoadRelaxed(m->state) != kSlotUsed) {
        changed = true;  // being written, or freed under us
        break;
      }
      if (LoadRelaxed(m->hash) == hash && LoadRelaxed(m->key_length) == key_length) {
        const uint32_t length = LoadRelaxed(m->value_length);
        const uint64_t expires = LoadRelaxed(m->expires_at_ms);
        // Copy key and value out of the chain, following exactly the blocks
        // the lengths announce; a link out of range means the slot changed
        // (the seq check says so). The key is compared on the copy: the
        // 32-bit hash screens, it does not decide.
        const bool whole = length <= max_value_bytes_ &&
                           chain_.Copy(LoadRelaxed(m->first_block), stored_key, uint32_t(key_length), out, length);
        FenceAcquire();
        if (!whole || LoadRelaxed(m->seq) != seq) {
          changed = true;
          break;
        }
        if (std::memcmp(stored_key, key, key_length) == 0) {
          if (expires <= now_ms) {
            Count(kExpired);
            Count(kMisses);
            return GetResult::kExpired;
          }
          *value_length = length;
          Count(kHits);
          return GetResult::kHit;
        }
      }
      const uint32_t next = LoadAcquire(m->next);
      FenceAcquire();
      if (LoadRelaxed(m->seq) != seq) {
        changed = true;
        break;
      }
      link = next;
    }
    if (!changed) break;
    CpuRelax();
  }
  Count(kMisses);
  return GetResult::kMiss;
}

uint32_t Table::Find(uint32_t hash, const uint8_t* key, size_t key_length) const {
  uint32_t link = LoadRelaxed(*Bucket(hash));
  for (uint32_t steps = 0; link != 0 && link <= items_ && steps < items_; ++steps) {
    SlotMeta* m = Meta(link - 1);
    if (m->hash == hash && KeyEquals(link - 1, key, key_length)) return link;
    link = LoadRelaxed(m->next);
  }
  return 0;
}

void Table::Unchain(uint32_t index) {
  SlotMeta* m = Meta(index);
  uint32_t* link = Bucket(m->hash);
  for (uint32_t steps = 0; *link != 0 && *link <= items_ && steps < items_; ++steps) {
    if (*link == index + 1) {
      StoreRelease(*link, LoadRelaxed(m->next));
      return;
    }
    link = &Meta(*link - 1)->next;
  }
}

void Table::Free(uint32_t index) {
  SlotMeta* m = Meta(index);
  // From seq | 1: a sequence number left odd (by a bug, or by a scribbler)
  // must not flip the protocol and leave the slot odd for good.
  const uint32_t seq = m->seq | 1;
  StoreRelaxed(m->seq, seq);
  FenceRelease();
  const uint32_t length = m->value_length;
  const uint32_t blocks = BlocksOf(m);
  const uint32_t first = m->first_block;
  StoreRelaxed(m->state, kSlotFree);
  StoreRelaxed(m->expires_at_ms, uint64_t{0});
  StoreRelaxed(m->key_length, uint16_t{0});
  StoreRelaxed(m->value_length, 0u);
  StoreRelaxed(m->first_block, 0u);
  StoreRelaxed(m->next, header_->free_head);
  StoreRelease(m->seq, seq + 1);
  StoreRelaxed(header_->free_head, index + 1);
  StoreRelaxed(header_->used, header_->used - 1);
  StoreRelaxed(header_->bytes_stored, header_->bytes_stored - length);
  // The slot went odd (and even again, free) before its blocks are reused:
  // a reader still copying them fails its seq check.
  FreeChain(first, blocks);
}

uint32_t Table::Evict(uint64_t now_ms) {
  uint32_t victim = 0;
  uint64_t soonest = UINT64_MAX;
  uint32_t hand = header_->evict_hand % items_;
  for (uint32_t n = 0; n < kEvictionSample && n < items_; ++n) {
    uint32_t i = (hand + n) % items_;
    SlotMeta* m = Meta(i);
    if (m->state == kSlotUsed && m->expires_at_ms < soonest) {
      soonest = m->expires_at_ms;
      victim = i + 1;
    }
  }
  // The next sample starts just after the victim (a clock hand): with one
  // timeout for all items this evicts in insertion order, and the slot just
  // refilled is sampled last, so a burst of sets within one millisecond (equal
  // expiries) does not keep evicting the newest item.
  StoreRelaxed(header_->evict_hand, victim != 0 ? victim % items_ : (hand + kEvictionSample) % items_);
  if (victim == 0) return 0;
  Count(soonest <= now_ms ? kExpired : kEvictions);
  Unchain(victim - 1);
  Free(victim - 1);
  return victim;
}

SetResult Table::Set(const uint8_t* key, size_t key_length, const uint8_t* value,
                     size_t value_length, uint64_t expires_at_ms, uint64_t now_ms) {
  if (key_length == 0 || key_length > max_key_length_ || value_length > max_value_bytes_) {
    Count(kTooLarge);
    return SetResult::kTooLarge;
  }
  const uint32_t hash = HashOf(key, key_length);
  if (!Lock()) return SetResult::kLockFailed;
  uint32_t link = Find(hash, key, key_length);
  const bool replacing = link != 0;
  if (replacing) {
    // The old item goes first (readers miss meanwhile, never see a mix), so
    // its blocks count towards the new one.
    Unchain(link - 1);
    Free(link - 1);
  }
  const uint32_t need = chain_.BlocksFor(key_length, value_length);  // >= 1
  // Make room rather than refuse a session: evict until a slot and enough
  // blocks are free. Each eviction frees a slot or finds none in its sample;
  // 2 * items + kEvictionSample rounds visit every slot at least once.
  for (uint32_t round = 0; round < 2 * items_ + kEvictionSample; ++round) {
    const uint32_t head = header_->free_head;
    if (head != 0 && head <= items_ && LoadRelaxed(header_->blocks_free) >= need) break;
    if (header_->used == 0) break;
    Evict(now_ms);
  }
  link = header_->free_head;
  const uint32_t first = AllocateChain(need);
  if (link == 0 || link > items_ || first == 0) {
    // Only a corrupt free list gets here (the geometry holds the largest item).
    Unlock();
    Count(kErrors);
    return SetResult::kLockFailed;
  }
  StoreRelaxed(header_->free_head, Meta(link - 1)->next);
  StoreRelaxed(header_->used, header_->used + 1);
  const uint32_t i = link - 1;
  SlotMeta* m = Meta(i);
  const uint32_t seq = m->seq | 1;  // see Free
  StoreRelaxed(m->seq, seq);
  FenceRelease();
  TLSSHM_TEST_HOOK("set.odd");
  StoreRelaxed(m->hash, hash);
  StoreRelaxed(m->key_length, uint16_t(key_length));
  StoreRelaxed(m->value_length, uint32_t(value_length));
  chain_.Fill(first, key, uint32_t(key_length), value, uint32_t(value_length));
  StoreRelaxed(m->first_block, first);
  StoreRelaxed(m->expires_at_ms, expires_at_ms);
  StoreRelaxed(m->state, kSlotUsed);
  StoreRelaxed(m->next, LoadRelaxed(*Bucket(hash)));
  StoreRelease(m->seq, seq + 1);
  StoreRelease(*Bucket(hash), link);
  StoreRelaxed(header_->bytes_stored, header_->bytes_stored + value_length);
  outbox_.Append(i, seq + 1);  // the even sequence number this write published
  Unlock();
  Count(kSets);
  if (replacing) Count(kReplaced);
  return replacing ? SetResult::kReplaced : SetResult::kInserted;
}

bool Table::Delete(const uint8_t* key, size_t key_length) {
  if (key_length == 0 || key_length > max_key_length_) return false;
  const uint32_t hash = HashOf(key, key_length);
  if (!Lock()) return false;
  uint32_t link = Find(hash, key, key_length);
  if (link != 0) {
    Unchain(link - 1);
    Free(link - 1);
  }
  Unlock();
  if (link != 0) Count(kDeletes);
  return link != 0;
}

uint32_t Table::Sweep(uint64_t now_ms) {
  const uint64_t started = MonotonicNs();
  uint32_t freed = 0;
  for (uint32_t start = 0; start < items_; start += kSweepSlice) {
    if (!Lock()) break;
    const uint32_t end = items_ - start < kSweepSlice ? items_ : start + kSweepSlice;
    for (uint32_t i = start; i < end; ++i) {
      SlotMeta* m = Meta(i);
      if (m->state == kSlotUsed && m->expires_at_ms <= now_ms) {
        Unchain(i);
        Free(i);
        ++freed;
      }
    }
    Unlock();
  }
  Count(kExpired, freed);
  Count(kSweepRuns);
  Count(kSweepNanos, MonotonicNs() - started);
  return freed;
}

}  // namespace tlsshm
