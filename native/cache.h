// One process's attachment to a segment: the mapping, its table, the counter
// stripe this process writes, and the small shared records beside the table
// (the cluster's ring of ticket keys and the maintenance lease).
//
// The binding wraps exactly one Cache per JavaScript SharedCache object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "segment.h"
#include "slots.h"

namespace tlsshm {

struct Totals {
  uint64_t counters[kCounters];  // summed over all stripes
  uint32_t attached;             // live processes holding a stripe
  uint32_t used;                 // slots holding an item
};

// Recovery of a ticket ring whose writer died mid-copy (its sequence number is
// odd): the bytes may mix old and new keys, so they are never published.
// Instead a fresh random current and next key are, as a new generation
// (outstanding tickets cost one full handshake). Caller holds the write lock
// or is alone with the segment.
void RepairTicketRing(Header* h);

class Cache {
 public:
  static std::unique_ptr<Cache> CreateShm(const Geometry& g, Error* error);
  static std::unique_ptr<Cache> CreateMemfd(const Geometry& g, Error* error);
  static std::unique_ptr<Cache> CreateOrOpenFile(const std::string& path, const Geometry& g,
                                                 bool* created, Error* error);
  static std::unique_ptr<Cache> Open(const std::string& handle, Error* error);
  ~Cache();

  // Gives up the stripe (its counts stay in it), the lease, and the mapping.
  void Close();
  bool closed() const { return segment_ == nullptr || segment_->closed(); }

  Table& table() { return *table_; }
  const Segment& segment() const { return *segment_; }
  const Header& header() const { return *segment_->header(); }
  // The geometry validated at open; never re-read from the mapping.
  const Geometry& geometry() const { return segment_->geometry(); }

  // Adds to a counter of this process's stripe; index < kCounters.
  void Count(uint32_t counter, uint64_t n) { AddRelaxed(counter, n); }
  Totals Sum() const;

  // Replaces the whole ticket key ring (operator-supplied keys): `present` has
  // bit i set for each filled slot. Bumps the generation; 0 if the lock failed.
  uint64_t SetTicketRing(const uint8_t ring[kTicketRingBytes], uint32_t present, uint64_t now_ms);
  // One rotation, done under the lock so that two rotators never lose a key:
  // next becomes current, current becomes previous, fresh[0] becomes next. A
  // ring without a next key (the first rotation) takes fresh[1] as current.
  // Returns the new generation, 0 if the lock failed.
  uint64_t RotateTicketRing(const uint8_t fresh[2 * kTicketRecordBytes], uint64_t now_ms);
  // Copies the ring out; returns its generation, 0 when there is none yet or a
  // writer is mid-update (callers keep the ring they have).
  uint64_t TicketRing(uint8_t out[kTicketRingBytes], uint32_t* present, uint64_t* set_at_ms) const;
  uint64_t TicketGeneration() const;

  // Takes or renews the maintenance lease for this process. It is taken over
  // when its holder is dead or has not renewed it for `stale_ms`.
  bool AcquireLease(uint64_t now_ms, uint64_t stale_ms);
  void ReleaseLease();
  uint32_t LeaseHolder() const;

 private:
  explicit Cache(Segment* segment);
  void ClaimStripe();
  void ReleaseStripe();
  void AddRelaxed(uint32_t counter, uint64_t n);

  std::unique_ptr<Segment> segment_;
  std::unique_ptr<Table> table_;
  uint32_t stripe_ = 0;  // 0 = the shared overflow stripe
};

}  // namespace tlsshm
