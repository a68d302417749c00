#include "cache.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>

#include <cstring>

#include "atomics.h"
#include "lock.h"

namespace tlsshm {

Cache::Cache(Segment* segment) : segment_(segment) {
  table_.reset(new Table(*segment_));
  ClaimStripe();
}

Cache::~Cache() { Close(); }

std::unique_ptr<Cache> Cache::CreateShm(const Geometry& g, Error* error) {
  Segment* s = Segment::CreateShm(g, error);
  return std::unique_ptr<Cache>(s ? new Cache(s) : nullptr);
}

std::unique_ptr<Cache> Cache::CreateMemfd(const Geometry& g, Error* error) {
  Segment* s = Segment::CreateMemfd(g, error);
  return std::unique_ptr<Cache>(s ? new Cache(s) : nullptr);
}

std::unique_ptr<Cache> Cache::CreateOrOpenFile(const std::string& path, const Geometry& g,
                                               bool* created, Error* error) {
  Segment* s = Segment::CreateOrOpenFile(path, g, created, error);
  return std::unique_ptr<Cache>(s ? new Cache(s) : nullptr);
}

std::unique_ptr<Cache> Cache::Open(const std::string& handle, Error* error) {
  Segment* s = Segment::Open(handle, error);
  return std::unique_ptr<Cache>(s ? new Cache(s) : nullptr);
}

void Cache::Close() {
  if (closed()) return;
  if (LeaseHolder() == uint32_t(getpid())) ReleaseLease();
  ReleaseStripe();
  table_.reset();
  segment_->Close();
  segment_.reset();
}

void Cache::ClaimStripe() {
  // A stripe is claimed with a compare-and-swap of its owner, no lock: two
  // processes never take one stripe, and a stopped lock holder cannot keep a
  // process from attaching. Counts are never moved or zeroed: a stripe whose
  // owner left or died keeps them, and its next owner adds on top, so every
  // sum is at least every earlier one, and a crash can neither lose nor
  // double a count.
  Stripe* st = segment_->stripes();
  const uint32_t me = uint32_t(getpid());
  for (uint32_t i = 1; i < kStripes && stripe_ == 0; ++i) {
    uint32_t owner = LoadRelaxed(st[i].pid);
    if (owner != 0 && ProcessAlive(pid_t(owner))) continue;
    if (__atomic_compare_exchange_n(&st[i].pid, &owner, me, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED)) {
      StoreRelaxed(st[i].attached_at_ms, NowMs());
      stripe_ = i;
    }
  }
  // No free stripe: stay on the shared stripe 0 (atomic adds, still exact).
  table_.reset(new Table(*segment_, st[stripe_].counters));
}

void Cache::ReleaseStripe() {
  if (stripe_ == 0) return;
  uint32_t me = uint32_t(getpid());
  __atomic_compare_exchange_n(&segment_->stripes()[stripe_].pid, &me, 0u, false, __ATOMIC_ACQ_REL,
                              __ATOMIC_RELAXED);
  stripe_ = 0;
}

void Cache::AddRelaxed(uint32_t counter, uint64_t n) {
  if (counter >= kCounters) return;
  tlsshm::AddRelaxed(segment_->stripes()[stripe_].counters[counter], n);
}

Totals Cache::Sum() const {
  Totals t;
  std::memset(&t, 0, sizeof t);
  const Stripe* st = segment_->stripes();
  // A process with several caches open on one segment (two servers, worker
  // threads) owns several stripes; `attached` counts processes, once each.
  uint32_t seen[kStripes];
  uint32_t distinct = 0;
  for (uint32_t i = 0; i < kStripes; ++i) {
    // Every stripe is summed, owned or not: counts stay where they were made.
    const uint32_t owner = LoadRelaxed(st[i].pid);
    if (i != 0 && owner != 0 && ProcessAlive(pid_t(owner))) {
      bool counted = false;
      for (uint32_t k = 0; k < distinct && !counted; ++k) counted = seen[k] == owner;
      if (!counted) seen[distinct++] = owner;
    }
    for (uint32_t c = 0; c < kCounters; ++c) t.counters[c] += LoadRelaxed(st[i].counters[c]);
  }
  t.attached = distinct;
  t.used = table_->used();
  return t;
}

namespace {

// Opens a ticket ring update. Starts from `seq | 1`: a sequence number left
// odd outside recovery (a bug, a stray write) must not make every later update
// end odd, which would hide the ring from readers for good.
uint32_t BeginTicketWrite(Header* h) {
  const uint32_t odd = LoadRelaxed(h->ticket_seq) | 1u;
  StoreRelaxed(h->ticket_seq, odd);
  FenceRelease();
  return odd;
}

// Publishes `ring` with its present mask as the next generation and closes
// the update with a release store of the next even number.
void FinishTicketWrite(Header* h, uint32_t odd, const uint8_t ring[kTicketRingBytes], uint32_t present,
                       uint64_t now_ms) {
  CopyIn(h->ticket_ring, ring, kTicketRingBytes);
  StoreRelaxed(h->ticket_present, present);
  StoreRelaxed(h->ticket_set_at_ms, now_ms);
  StoreRelaxed(h->ticket_generation, LoadRelaxed(h->ticket_generation) + 1);
  StoreRelease(h->ticket_seq, odd + 1);
}

bool TicketRandomBytes(uint8_t* out, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out += got;
    n -= size_t(got);
  }
  return true;
}

uint8_t* Record(uint8_t* ring, uint32_t slot) { return ring + size_t(slot) * kTicketRecordBytes; }

}  // namespace

void RepairTicketRing(Header* h) {
  if ((LoadRelaxed(h->ticket_seq) & 1u) == 0) return;
  uint8_t ring[kTicketRingBytes] = {};
  uint32_t present = 0;
  if (TicketRandomBytes(Record(ring, kTicketNext), kTicketRecordBytes) &&
      TicketRandomBytes(Record(ring, kTicketCurrent), kTicketRecordBytes)) {
    present = (1u << kTicketNext) | (1u << kTicketCurrent);
  } else {
    std::memset(ring, 0, sizeof ring);  // no randomness: no keys (servers keep theirs) rather than weak ones
  }
  // The sequence is odd already: finishing the update from it makes it even.
  FinishTicketWrite(h, LoadRelaxed(h->ticket_seq), ring, present, NowMs());
  explicit_bzero(ring, sizeof ring);
}

uint64_t Cache::SetTicketRing(const uint8_t ring[kTicketRingBytes], uint32_t present, uint64_t now_ms) {
  if (!table_->Lock()) return 0;
  Header* h = segment_->header();
  FinishTicketWrite(h, BeginTicketWrite(h), ring, present & ((1u << kTicketRingKeys) - 1), now_ms);
  const uint64_t generation = LoadRelaxed(h->ticket_generation);
  table_->Unlock();
  return generation;
}

uint64_t Cache::RotateTicketRing(const uint8_t fresh[2 * kTicketRecordBytes], uint64_t now_ms) {
  if (!table_->Lock()) return 0;
  Header* h = segment_->header();
  // Under the lock nobody else writes the ring, so plain reads see the last
  // complete one (a torn one was repaired by the locker that recovered).
  uint8_t ring[kTicketRingBytes];
  uint8_t next[kTicketRingBytes] = {};
  CopyOut(ring, h->ticket_ring, kTicketRingBytes);
  const uint32_t present = LoadRelaxed(h->ticket_present);
  uint32_t now_present = 0;
  auto put = [&](uint32_t slot, const uint8_t* record) {
    std::memcpy(Record(next, slot), record, kTicketRecordBytes);
    now_present |= 1u << slot;
  };
  if (present & (1u << kTicketCurrent)) put(kTicketPrevious, Record(ring, kTicketCurrent));
  if (present & (1u << kTicketNext)) {
    put(kTicketCurrent, Record(ring, kTicketNext));
  } else {
    put(kTicketCurrent, fresh + kTicketRecordBytes);
  }
  put(kTicketNext, fresh);
  FinishTicketWrite(h, BeginTicketWrite(h), next, now_present, now_ms);
  const uint64_t generation = LoadRelaxed(h->ticket_generation);
  table_->Unlock();
  explicit_bzero(ring, sizeof ring);
  explicit_bzero(next, sizeof next);
  return generation;
}

uint64_t Cache::TicketRing(uint8_t out[kTicketRingBytes], uint32_t* present, uint64_t* set_at_ms) const {
  const Header* h = segment_->header();
  for (uint32_t attempt = 0; attempt < kReadAttempts; ++attempt) {
    const uint32_t seq = LoadAcquire(h->ticket_seq);
    if ((seq & 1) == 0) {
      CopyOut(out, h->ticket_ring, kTicketRingBytes);
      const uint32_t mask = LoadRelaxed(h->ticket_present);
      const uint64_t generation = LoadRelaxed(h->ticket_generation);
      const uint64_t at = LoadRelaxed(h->ticket_set_at_ms);
      FenceAcquire();
      if (LoadRelaxed(h->ticket_seq) == seq) {
        if (present != nullptr) *present = mask;
        if (set_at_ms != nullptr) *set_at_ms = at;
        return generation;
      }
    }
    CpuRelax();
  }
  // A writer is mid-update (or died there, until the next locker recovers):
  // callers treat 0 as "no new ring" and keep the one they have.
  explicit_bzero(out, kTicketRingBytes);
  return 0;
}

uint64_t Cache::TicketGeneration() const {
  return LoadAcquire(segment_->header()->ticket_generation);
}

bool Cache::AcquireLease(uint64_t now_ms, uint64_t stale_ms) {
  if (!table_->Lock()) return false;
  Header* h = segment_->header();
  const uint32_t me = uint32_t(getpid());
  const uint32_t holder = h->lease_pid;
  // Clocks of different processes may disagree by a few ms: a renewal "in the
  // future" is fresh, not stale.
  const uint64_t renewed = h->lease_renewed_ms;
  const bool stale = now_ms > renewed && now_ms - renewed > stale_ms;
  const bool take = holder == 0 || holder == me || !ProcessAlive(pid_t(holder)) || stale;
  if (take) {
    StoreRelaxed(h->lease_pid, me);
    StoreRelaxed(h->lease_renewed_ms, now_ms);
  }
  table_->Unlock();
  return take;
}

void Cache::ReleaseLease() {
  if (!table_->Lock()) return;
  Header* h = segment_->header();
  if (h->lease_pid == uint32_t(getpid())) StoreRelaxed(h->lease_pid, 0u);
  table_->Unlock();
}

uint32_t Cache::LeaseHolder() const { return LoadRelaxed(segment_->header()->lease_pid); }

}  // namespace tlsshm
