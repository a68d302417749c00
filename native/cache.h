// One process's attachment to a segment: the mapping, its table, the counter
// stripe this process writes, and the small shared records beside the table
// (the cluster's ticket key and the maintenance lease).
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

  // Stores a new ticket key and bumps the generation; false if the lock failed.
  bool SetTicketKey(const uint8_t key[kTicketKeyBytes], uint64_t now_ms);
  // Copies the current key out; returns its generation (0 = none yet).
  uint64_t TicketKey(uint8_t out[kTicketKeyBytes], uint64_t* set_at_ms) const;
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
