#include "slots.h"

#include "atomics.h"
#include "cache.h"
#include "segment.h"
#include "siphash.h"

namespace tlsshm {

Table::Table(const Segment& segment, uint64_t* counters) {
  Header* h = segment.header();
  header_ = h;
  buckets_ = reinterpret_cast<uint32_t*>(segment.base() + h->buckets_offset);
  meta_ = segment.base() + h->meta_offset;
  blocks_ = segment.base() + h->blocks_offset;
  counters_ = counters != nullptr ? counters : segment.stripes()[0].counters;
  // Geometry is copied once, after the header was validated, so that a process
  // scribbling on the header later cannot move our bounds.
  items_ = h->items;
  blocksize_ = h->blocksize;
  max_key_length_ = h->max_key_length;
  bucket_count_ = h->bucket_count;
  meta_stride_ = h->meta_stride;
  block_stride_ = h->block_stride;
  outbox_ = Outbox(segment.base() + h->total_bytes - kOutboxBytes);
}

uint64_t Table::Hash(const uint8_t* key, size_t key_length) const {
  return SipHash13(header_->hash_key, key, key_length);
}

void Table::Count(Counter c, uint64_t n) const { AddRelaxed(counters_[c], n); }

uint32_t Table::used() const { return LoadRelaxed(header_->used); }

void Table::FormatSlots() {
  for (uint32_t i = 0; i < items_; ++i) {
    Meta(i)->next = i + 1 < items_ ? i + 2 : 0;
  }
  header_->free_head = items_ > 0 ? 1 : 0;
  header_->used = 0;
}

void Table::Rebuild() {
  for (uint32_t b = 0; b < bucket_count_; ++b) StoreRelaxed(buckets_[b], 0u);
  uint32_t free_head = 0;
  uint32_t used = 0;
  for (uint32_t i = items_; i-- > 0;) {
    SlotMeta* m = Meta(i);
    uint32_t seq = LoadRelaxed(m->seq);
    bool keep = (seq & 1) == 0 && LoadRelaxed(m->state) == kSlotUsed &&
                LoadRelaxed(m->key_length) >= 1 && LoadRelaxed(m->key_length) <= max_key_length_ &&
                LoadRelaxed(m->value_length) <= blocksize_ && LoadRelaxed(m->expires_at_ms) != 0;
    if (keep) {
      // The stored hash may predate a crash; recompute it from the key.
      uint64_t hash = Hash(Key(i), m->key_length);
      StoreRelaxed(m->hash, hash);
      StoreRelaxed(m->next, LoadRelaxed(*Bucket(hash)));
      StoreRelease(*Bucket(hash), i + 1);
      ++used;
    } else {
      // Half written, or free already: make it free, with an even sequence
      // number that differs from anything a reader saw before.
      StoreRelaxed(m->seq, (seq | 1) + 1);
      StoreRelaxed(m->state, kSlotFree);
      StoreRelaxed(m->expires_at_ms, uint64_t{0});
      StoreRelaxed(m->next, free_head);
      free_head = i + 1;
    }
  }
  StoreRelaxed(header_->free_head, free_head);
  StoreRelaxed(header_->used, used);
}

void Table::RecoverAfterDeadWriter(void* table) {
  Table* t = static_cast<Table*>(table);
  t->Rebuild();
  // A ticket ring update cut short: fresh keys, never the torn bytes (cache.h).
  RepairTicketRing(t->header_);
  t->Count(kRecoveries);
}

bool Table::Lock() {
  switch (LockRobust(&header_->write_lock, kLockTimeoutMs, &RecoverAfterDeadWriter, this)) {
    case LockStatus::kLocked:
    case LockStatus::kRecovered:
      return true;
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
  const uint64_t hash = Hash(key, key_length);
  for (uint32_t attempt = 0; attempt < kReadAttempts; ++attempt) {
    uint32_t link = LoadAcquire(*Bucket(hash));
    bool changed = false;
    for (uint32_t steps = 0; link != 0 && !changed; ++steps) {
      if (link > items_ || steps >= items_) {
        changed = true;  // a link from a half-rebuilt chain: start over
        break;
      }
      const uint32_t i = link - 1;
      SlotMeta* m = Meta(i);
      const uint32_t seq = LoadAcquire(m->seq);
      if ((seq & 1) != 0 || LoadRelaxed(m->state) != kSlotUsed) {
        changed = true;  // being written, or freed under us
        break;
      }
      if (LoadRelaxed(m->hash) == hash && LoadRelaxed(m->key_length) == key_length &&
          EqualsShared(Key(i), key, key_length)) {
        const uint32_t length = LoadRelaxed(m->value_length);
        const uint64_t expires = LoadRelaxed(m->expires_at_ms);
        if (length > blocksize_) {
          changed = true;
          break;
        }
        CopyOut(out, Block(i), length);
        FenceAcquire();
        if (LoadRelaxed(m->seq) != seq) {
          changed = true;
          break;
        }
        if (expires <= now_ms) {
          Count(kExpired);
          Count(kMisses);
          return GetResult::kExpired;
        }
        *value_length = length;
        Count(kHits);
        return GetResult::kHit;
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

uint32_t Table::Find(uint64_t hash, const uint8_t* key, size_t key_length) const {
  uint32_t link = LoadRelaxed(*Bucket(hash));
  for (uint32_t steps = 0; link != 0 && link <= items_ && steps < items_; ++steps) {
    SlotMeta* m = Meta(link - 1);
    if (m->hash == hash && m->key_length == key_length &&
        EqualsShared(Key(link - 1), key, key_length)) {
      return link;
    }
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
  const uint32_t seq = m->seq;
  StoreRelaxed(m->seq, seq + 1);
  FenceRelease();
  StoreRelaxed(m->state, kSlotFree);
  StoreRelaxed(m->expires_at_ms, uint64_t{0});
  StoreRelaxed(m->key_length, uint16_t{0});
  StoreRelaxed(m->value_length, 0u);
  StoreRelaxed(m->next, header_->free_head);
  StoreRelease(m->seq, seq + 2);
  StoreRelaxed(header_->free_head, index + 1);
  StoreRelaxed(header_->used, header_->used - 1);
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
  if (key_length == 0 || key_length > max_key_length_ || value_length > blocksize_) {
    Count(kTooLarge);
    return SetResult::kTooLarge;
  }
  const uint64_t hash = Hash(key, key_length);
  if (!Lock()) return SetResult::kLockFailed;
  uint32_t link = Find(hash, key, key_length);
  const bool replacing = link != 0;
  if (!replacing) {
    link = header_->free_head;
    if (link == 0 || link > items_) {
      // Full (or a corrupt free list): make room rather than refuse a session.
      Evict(now_ms);
      link = header_->free_head;
    }
    if (link == 0 || link > items_) {
      Unlock();
      Count(kErrors);
      return SetResult::kLockFailed;
    }
    StoreRelaxed(header_->free_head, Meta(link - 1)->next);
    StoreRelaxed(header_->used, header_->used + 1);
  }
  const uint32_t i = link - 1;
  SlotMeta* m = Meta(i);
  const uint32_t seq = m->seq;
  StoreRelaxed(m->seq, seq + 1);
  FenceRelease();
  StoreRelaxed(m->hash, hash);
  StoreRelaxed(m->key_length, uint16_t(key_length));
  CopyIn(Key(i), key, key_length);
  StoreRelaxed(m->value_length, uint32_t(value_length));
  CopyIn(Block(i), value, value_length);
  StoreRelaxed(m->expires_at_ms, expires_at_ms);
  StoreRelaxed(m->state, kSlotUsed);
  if (!replacing) StoreRelaxed(m->next, LoadRelaxed(*Bucket(hash)));
  StoreRelease(m->seq, seq + 2);
  if (!replacing) StoreRelease(*Bucket(hash), link);
  outbox_.Append(i, seq + 2);
  Unlock();
  Count(kSets);
  if (replacing) Count(kReplaced);
  return replacing ? SetResult::kReplaced : SetResult::kInserted;
}

bool Table::Delete(const uint8_t* key, size_t key_length) {
  if (key_length == 0 || key_length > max_key_length_) return false;
  const uint64_t hash = Hash(key, key_length);
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
