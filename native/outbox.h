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
// - A drainer that falls more than kOutboxEntries behind loses the oldest
//   records and is told how many.
#pragma once

#include <cstdint>
#include <vector>

#include "layout.h"

namespace tlsshm {

// 8192 records (64 KiB): the drainer (src/remote/tier.ts) reads it every
// 50 ms whatever its publish interval, so it keeps up with 160,000 sets a
// second, or rides out a 100 ms event-loop stall at 80,000.
constexpr uint32_t kOutboxEntries = 8192;  // records; a power of two
// Bytes at the end of the segment: a cache line of header, then the records,
// rounded to whole pages.
constexpr uint64_t kOutboxBytes = ((kCacheLine + 8ull * kOutboxEntries) + 4095) / 4096 * 4096;

struct OutboxArea {
  uint64_t head;  // records appended since creation; written under write_lock
  uint8_t pad[kCacheLine - 8];
  uint64_t records[kOutboxEntries];  // (slot << 32) | seq, at head % kOutboxEntries
};
static_assert(sizeof(OutboxArea) <= kOutboxBytes, "outbox fits its area");

// The writer's side, held by each Table.
class Outbox {
 public:
  Outbox() = default;
  explicit Outbox(uint8_t* area) : area_(reinterpret_cast<OutboxArea*>(area)) {}
  // Caller holds the write lock.
  void Append(uint32_t slot, uint32_t seq);
  uint64_t Head() const;

 private:
  OutboxArea* area_ = nullptr;
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
