// The outbox: a ring of "slot i was written with sequence number s" records at
// the end of the segment, so that the process talking to Redis (the primary,
// or the lease holder) can find the sessions the workers stored without any
// worker doing I/O or IPC.
//
// - Appended by Table::Set while it already holds the write lock: one 8-byte
//   store and one counter store, no lock of its own (writers are serialised).
// - Read without a lock by one drainer, which keeps its own cursor (a count of
//   appends). A record is the pair (slot, seq) packed in one u64, so a reader
//   sees either the old or the new record, never half of each. The drainer
//   re-reads `head` after copying a record: if the writer lapped it meanwhile
//   the record is discarded and counted as lost.
// - The slot is then copied under its own seqlock; a slot whose sequence number
//   moved (replaced, evicted, freed) since the record was made is skipped: that
//   value is gone from this host too.
// - A drainer that falls more than OutboxEntries(items) behind loses the oldest
//   records and is told how many.
#pragma once

#include <cstdint>
#include <vector>

#include "layout.h"

namespace tlsshm {

// Records in a segment's outbox, from its number of slots: a sixteenth of
// them, as a power of two from 1024 to 16384 (8 KiB to 128 KiB; 8192 for a
// 16 MiB cache). The drainer (src/remote/tier.ts) reads it every 50 ms
// whatever its publish interval, so even the smallest keeps up with 20,000
// sets a second, which would turn a cache of 16,000 slots or fewer over
// every second; larger caches get more room, so the fixed cost stays a small
// part of every size (a 1 MiB cache holds about 4,000 sessions).
constexpr uint32_t kOutboxMinEntries = 1024;
constexpr uint32_t kOutboxMaxEntries = 16384;
inline uint32_t OutboxEntries(uint32_t items) {
  uint32_t n = kOutboxMinEntries;
  while (n < kOutboxMaxEntries && n < items / 16) n <<= 1;
  return n;
}
// Bytes at the end of the segment: a cache line of header, then the records,
// rounded to whole pages.
inline uint64_t OutboxBytes(uint32_t entries) { return ((kCacheLine + 8ull * entries) + 4095) / 4096 * 4096; }

struct OutboxArea {
  uint64_t head;  // records appended since creation; written under write_lock
  uint8_t pad[kCacheLine - 8];
  // Then `entries` records, (slot << 32) | seq, the one of append n at n % entries.
  uint64_t* records() { return reinterpret_cast<uint64_t*>(this + 1); }
  const uint64_t* records() const { return reinterpret_cast<const uint64_t*>(this + 1); }
};
static_assert(sizeof(OutboxArea) == kCacheLine, "records start on the next cache line");

// The writer's side, held by each Table.
class Outbox {
 public:
  Outbox() = default;
  Outbox(uint8_t* area, uint32_t entries) : area_(reinterpret_cast<OutboxArea*>(area)), mask_(entries - 1) {}
  // Caller holds the write lock.
  void Append(uint32_t slot, uint32_t seq);
  uint64_t Head() const;

 private:
  OutboxArea* area_ = nullptr;
  uint32_t mask_ = 0;  // entries - 1
};

// One session copied out of the table for the drainer.
struct OutboxItem {
  std::vector<uint8_t> key;
  std::vector<uint8_t> value;
  uint64_t expires_at_ms;
};

struct DrainResult {
  uint64_t cursor;   // where the next drain starts
  uint64_t lost;     // records overwritten before they were read
  uint64_t stale;    // records whose slot changed since (replaced, evicted, freed)
  std::vector<OutboxItem> items;
};

class Segment;

// Reads up to `max_items` records from `cursor` and copies their slots out.
DrainResult DrainOutbox(const Segment& segment, uint64_t cursor, uint32_t max_items, uint64_t now_ms);
// The cursor a new drainer starts from (skips everything already appended).
uint64_t OutboxHead(const Segment& segment);

}  // namespace tlsshm
