// Concurrency stress of the native core: readers must never see a torn or
// foreign value, and writers killed at any instruction must not wedge the rest.
//
//   stress threads [scale]    threads on one segment, built with TSan and ASan:
//                             (a) all threads share one mapping (one Cache), so
//                                 ThreadSanitizer sees every racing access;
//                             (b) each thread opens its own Cache (its own
//                                 mapping and counter stripe), as processes do.
//   stress probe              starts and exits (run.sh checks the TSan runtime)
//   stress processes [scale]  forked writers SIGKILLed again and again mid-write
//                             while a reader process checks every value (ASan).
//
// Every value names its key and length and carries a checksum (testing.h), so
// a reader can tell a whole value from a half-written or a foreign one.
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "testing.h"

using namespace tlsshm;
using tlstest::CheckValue;
using tlstest::KeyFor;
using tlstest::MakeValue;

namespace {

constexpr uint32_t kKeys = 96;        // more keys than slots: eviction and slot reuse
constexpr uint32_t kItems = 64;
constexpr uint32_t kBlocksize = 200;
constexpr uint32_t kKeyLength = 16;
constexpr uint64_t kTtlMs = 40;       // in virtual milliseconds; the clock moves fast

Geometry StressGeometry() {
  Geometry g;
  g.items = kItems;
  // Values of up to kBlocksize bytes in 32-byte granules, with blocks for an
  // average of 100 bytes per item: sets of long values evict for blocks, and
  // readers copy chains of up to 7 blocks while writers relink them.
  g.blocksize = 32;
  g.blocks = kItems * 100 / 32;
  g.max_value_bytes = kBlocksize;
  g.max_key_length = kKeyLength;
  g.default_ttl_s = 300;
  return g;
}

struct Shared {
  std::atomic<uint64_t> now{1'000'000};  // virtual clock (ms), moved by the sweeper
  std::atomic<uint64_t> bad{0};          // torn/foreign values seen
  std::atomic<uint64_t> lock_failures{0};
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> sets{0};
  std::atomic<uint64_t> ticket_reads{0};
  std::atomic<bool> stop{false};
};

void ReportBad(Shared& shared, uint32_t key, const std::string& what) {
  if (shared.bad.fetch_add(1) < 5) std::fprintf(stderr, "  key %u: %s\n", key, what.c_str());
}

// A set that retries a write lock time-out for up to ~2 s: writers give up on
// the lock after kLockTimeoutMs by design (a preempted holder on a loaded
// machine costs a dropped write, not a frozen event loop), so what the stress
// tests check is that the lock is never wedged, not that no wait ever ends.
SetResult SetPatiently(Table& table, const uint8_t* key, size_t key_length, const uint8_t* value,
                       size_t value_length, uint64_t expires_at_ms, uint64_t now_ms) {
  SetResult r = SetResult::kLockFailed;
  for (int attempt = 0; attempt < 2000 && r == SetResult::kLockFailed; ++attempt) {
    if (attempt > 0) usleep(1000);
    r = table.Set(key, key_length, value, value_length, expires_at_ms, now_ms);
  }
  return r;
}

// One worker's loop: a mix of get (verified), set, delete over overlapping keys.
void Work(Table& table, Shared& shared, uint64_t seed, uint32_t ops) {
  tlstest::Rng rng(seed);
  std::vector<uint8_t> out(kBlocksize + 8);
  std::string keys[kKeys];
  for (uint32_t k = 0; k < kKeys; ++k) keys[k] = KeyFor(k, 1 + k % kKeyLength);
  for (uint32_t n = 0; n < ops; ++n) {
    const uint32_t k = rng.Below(kKeys);
    const std::string& key = keys[k];
    const uint8_t* kp = reinterpret_cast<const uint8_t*>(key.data());
    const uint32_t op = rng.Below(100);
    const uint64_t now = shared.now.load(std::memory_order_relaxed);
    if (op < 55) {
      uint32_t length = 0;
      if (table.Get(kp, key.size(), out.data(), &length, now) == GetResult::kHit) {
        shared.hits.fetch_add(1, std::memory_order_relaxed);
        std::string problem = CheckValue(k, out.data(), length);
        if (!problem.empty()) ReportBad(shared, k, problem);
      }
    } else if (op < 92) {
      const size_t length = tlstest::kValueHeader + rng.Below(kBlocksize - tlstest::kValueHeader + 1);
      std::vector<uint8_t> v = MakeValue(k, length, rng.Next());
      SetResult r = SetPatiently(table, kp, key.size(), v.data(), v.size(), now + 1 + rng.Below(kTtlMs), now);
      if (r == SetResult::kLockFailed) shared.lock_failures.fetch_add(1);
      shared.sets.fetch_add(1, std::memory_order_relaxed);
    } else {
      table.Delete(kp, key.size());
    }
  }
}

// Moves the virtual clock and sweeps, so that slots expire and are freed and
// reused under the readers.
void Sweeper(Table& table, Shared& shared) {
  while (!shared.stop.load()) {
    const uint64_t now = shared.now.fetch_add(3) + 3;
    table.Sweep(now);
    std::this_thread::yield();
  }
}

// The ring bytes that go with a generation; a reader checks they match.
void TicketPattern(uint64_t generation, uint8_t ring[kTicketRingBytes]) {
  for (uint32_t i = 0; i < kTicketRingBytes; ++i) ring[i] = uint8_t(generation * 31 + i * 7);
}

void TicketRotator(Cache& cache, Shared& shared) {
  uint8_t ring[kTicketRingBytes];
  uint64_t generation = cache.TicketGeneration();
  while (!shared.stop.load()) {
    TicketPattern(generation + 1, ring);
    if (cache.SetTicketRing(ring, 0xf, shared.now.load()) != 0) ++generation;
    std::this_thread::yield();
  }
}

void TicketReader(const Cache& cache, Shared& shared, uint32_t reads) {
  uint8_t ring[kTicketRingBytes], expect[kTicketRingBytes];
  uint64_t last = 0;
  for (uint32_t n = 0; n < reads; ++n) {
    uint64_t at = 0;
    uint32_t present = 0;
    const uint64_t generation = cache.TicketRing(ring, &present, &at);
    if (generation == 0) continue;  // a rotation in progress: keep the old ring
    shared.ticket_reads.fetch_add(1, std::memory_order_relaxed);
    TicketPattern(generation, expect);
    if (std::memcmp(ring, expect, kTicketRingBytes) != 0 || present != 0xf) ReportBad(shared, 0, "torn ticket ring");
    if (generation < last) ReportBad(shared, 0, "ticket generation went back");
    last = generation;
  }
}

int RunThreads(uint32_t scale) {
  constexpr int kWorkers = 4;
  const uint32_t ops = 20'000 * scale;
  int failures = 0;
  for (int variant = 0; variant < 2; ++variant) {
    const bool shared_mapping = variant == 0;
    Error e;
    std::unique_ptr<Cache> owner = Cache::CreateShm(StressGeometry(), &e);
    if (owner == nullptr) {
      std::fprintf(stderr, "CreateShm: %s\n", e.message.c_str());
      return 1;
    }
    std::vector<std::unique_ptr<Cache>> caches;
    for (int w = 0; w < kWorkers && !shared_mapping; ++w) {
      caches.push_back(Cache::Open(owner->segment().handle(), &e));
      if (caches.back() == nullptr) {
        std::fprintf(stderr, "Open: %s\n", e.message.c_str());
        return 1;
      }
    }
    auto cache_for = [&](int w) -> Cache& { return shared_mapping ? *owner : *caches[size_t(w)]; };
    Shared shared;
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        Work(cache_for(w).table(), shared, uint64_t(variant * 100 + w + 1), ops);
        TicketReader(cache_for(w), shared, 200 * scale);
      });
    }
    std::thread sweeper([&] { Sweeper(cache_for(0).table(), shared); });
    std::thread rotator([&] { TicketRotator(cache_for(kWorkers - 1), shared); });
    for (std::thread& t : workers) t.join();
    shared.stop = true;
    sweeper.join();
    rotator.join();

    std::string structure;
    if (owner->table().Lock()) {
      structure = tlstest::CheckTable(owner->segment());
      owner->table().Unlock();
    } else {
      structure = "cannot take the write lock at the end";
    }
    for (auto& c : caches) c->Close();
    const Totals totals = owner->Sum();
    std::printf("threads (%s): %d workers x %u ops: %llu sets, %llu verified hits, %llu ticket reads, "
                "%llu evictions, %llu expired; torn/foreign: %llu, lock failures: %llu\n",
                shared_mapping ? "one shared mapping" : "one mapping each", kWorkers, ops,
                (unsigned long long)shared.sets.load(), (unsigned long long)shared.hits.load(),
                (unsigned long long)shared.ticket_reads.load(),
                (unsigned long long)totals.counters[kEvictions],
                (unsigned long long)totals.counters[kExpired], (unsigned long long)shared.bad.load(),
                (unsigned long long)shared.lock_failures.load());
    if (shared.bad != 0) ++failures;
    if (shared.lock_failures != 0) ++failures;
    if (shared.hits == 0) {
      std::fprintf(stderr, "  no hit was ever verified: the test checked nothing\n");
      ++failures;
    }
    if (!structure.empty()) {
      std::fprintf(stderr, "  table structure after the run: %s\n", structure.c_str());
      ++failures;
    }
    // Every stripe was folded back: the totals hold every set the workers made.
    if (totals.counters[kSets] + totals.counters[kTooLarge] < shared.sets - shared.lock_failures) {
      std::fprintf(stderr, "  counters lost sets: %llu < %llu\n",
                   (unsigned long long)totals.counters[kSets], (unsigned long long)shared.sets.load());
      ++failures;
    }
  }
  return failures;
}

// ---- processes ---------------------------------------------------------------------

uint64_t WallMs() { return NowMs(); }

// A writer child: opens the cache and writes (and checks) until killed. Exits
// by itself only to report a problem: 3 = torn/foreign value, 4 = lock failure.
[[noreturn]] void WriterChild(const std::string& handle, uint64_t seed) {
  Error e;
  std::unique_ptr<Cache> cache = Cache::Open(handle, &e);
  if (cache == nullptr) {
    std::fprintf(stderr, "  writer: %s\n", e.message.c_str());
    tlstest::ChildExit(2);
  }
  Table& table = cache->table();
  tlstest::Rng rng(seed);
  std::vector<uint8_t> out(kBlocksize + 8);
  for (;;) {
    const uint32_t k = rng.Below(kKeys);
    const std::string key = KeyFor(k, 1 + k % kKeyLength);
    const uint8_t* kp = reinterpret_cast<const uint8_t*>(key.data());
    const uint64_t now = WallMs();
    const uint32_t op = rng.Below(100);
    if (op < 80) {
      std::vector<uint8_t> v = MakeValue(k, tlstest::kValueHeader + rng.Below(kBlocksize - 15), rng.Next());
      if (SetPatiently(table, kp, key.size(), v.data(), v.size(), now + 60'000, now) == SetResult::kLockFailed) {
        tlstest::ChildExit(4);
      }
    } else if (op < 90) {
      table.Delete(kp, key.size());
    } else {
      uint32_t length = 0;
      if (table.Get(kp, key.size(), out.data(), &length, now) == GetResult::kHit &&
          !CheckValue(k, out.data(), length).empty()) {
        tlstest::ChildExit(3);
      }
    }
    if (rng.Below(512) == 0) table.Sweep(now);
  }
}

// The reader child lives through the whole run: it reads (and sometimes writes)
// until its pipe closes, then exits 0 if every value it saw was whole.
[[noreturn]] void ReaderChild(const std::string& handle, int stop_fd) {
  Error e;
  std::unique_ptr<Cache> cache = Cache::Open(handle, &e);
  if (cache == nullptr) tlstest::ChildExit(2);
  Table& table = cache->table();
  tlstest::Rng rng(4242);
  std::vector<uint8_t> out(kBlocksize + 8);
  uint64_t hits = 0, bad = 0, set_failures = 0, sets = 0;
  uint64_t slowest_set_ns = 0;
  for (uint64_t n = 0;; ++n) {
    if ((n & 255) == 0) {
      struct pollfd p = {stop_fd, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) break;
    }
    const uint32_t k = rng.Below(kKeys);
    const std::string key = KeyFor(k, 1 + k % kKeyLength);
    const uint8_t* kp = reinterpret_cast<const uint8_t*>(key.data());
    const uint64_t now = WallMs();
    if (rng.Below(10) == 0) {
      std::vector<uint8_t> v = MakeValue(k, tlstest::kValueHeader + rng.Below(kBlocksize - 15), rng.Next());
      const uint64_t started = MonotonicNs();
      if (SetPatiently(table, kp, key.size(), v.data(), v.size(), now + 60'000, now) == SetResult::kLockFailed) {
        ++set_failures;
      }
      const uint64_t took = MonotonicNs() - started;
      if (took > slowest_set_ns) slowest_set_ns = took;
      ++sets;
      continue;
    }
    uint32_t length = 0;
    if (table.Get(kp, key.size(), out.data(), &length, now) == GetResult::kHit) {
      ++hits;
      std::string problem = CheckValue(k, out.data(), length);
      if (!problem.empty() && bad++ < 5) std::fprintf(stderr, "  reader, key %u: %s\n", k, problem.c_str());
    }
  }
  std::printf("processes: reader verified %llu hits, made %llu sets (slowest %.3f ms), "
              "torn/foreign: %llu, set lock failures: %llu\n",
              (unsigned long long)hits, (unsigned long long)sets, double(slowest_set_ns) / 1e6,
              (unsigned long long)bad, (unsigned long long)set_failures);
  std::fflush(stdout);
  tlstest::ChildExit(bad != 0 ? 3 : set_failures != 0 ? 4 : hits == 0 ? 5 : 0);
}

int RunProcesses(uint32_t scale) {
  constexpr int kWriters = 3;
  const int rounds = 100 * int(scale);
  Error e;
  std::unique_ptr<Cache> owner = Cache::CreateShm(StressGeometry(), &e);
  if (owner == nullptr) {
    std::fprintf(stderr, "CreateShm: %s\n", e.message.c_str());
    return 1;
  }
  const std::string handle = owner->segment().handle();
  std::fflush(stdout);
  std::fflush(stderr);
  int stop[2];
  if (pipe(stop) != 0) return 1;
  const pid_t parent = getpid();
  pid_t reader = fork();
  if (reader < 0) return 1;
  if (reader == 0) {
    tlstest::DieWithParent(parent);
    close(stop[1]);
    ReaderChild(handle, stop[0]);
  }
  close(stop[0]);

  int failures = 0;
  tlstest::Rng rng(99);
  pid_t writers[kWriters];
  auto spawn = [&](int w) {
    writers[w] = fork();
    if (writers[w] == 0) {
      tlstest::DieWithParent(parent);
      close(stop[1]);
      WriterChild(handle, rng.Next());
    }
  };
  for (int w = 0; w < kWriters; ++w) spawn(w);
  int killed = 0;
  for (int round = 0; round < rounds; ++round) {
    struct timespec pause = {0, long(200 + rng.Below(2500)) * 1000L};
    nanosleep(&pause, nullptr);
    const int w = int(rng.Below(kWriters));
    kill(writers[w], SIGKILL);
    const int rc = tlstest::Wait(writers[w]);
    if (rc == 128 + SIGKILL) {
      ++killed;
    } else {
      std::fprintf(stderr, "  writer exited by itself with %d (3 = torn value, 4 = lock failure)\n", rc);
      ++failures;
    }
    spawn(w);
    // The parent, too, must be able to write after every kill.
    const std::string key = KeyFor(1000, 8);
    std::vector<uint8_t> v = MakeValue(1000, 64, uint64_t(round));
    const uint64_t now = WallMs();
    if (SetPatiently(owner->table(), reinterpret_cast<const uint8_t*>(key.data()), key.size(), v.data(),
                     v.size(), now + 60'000, now) == SetResult::kLockFailed) {
      std::fprintf(stderr, "  the parent could not write after kill %d\n", round);
      ++failures;
    }
  }
  for (int w = 0; w < kWriters; ++w) {
    kill(writers[w], SIGKILL);
    tlstest::Wait(writers[w]);
  }
  close(stop[1]);
  const int reader_rc = tlstest::Wait(reader);
  if (reader_rc != 0) {
    std::fprintf(stderr, "  reader exited with %d (3 = torn value, 4 = lock failure, 5 = no hits)\n", reader_rc);
    ++failures;
  }
  // Quiet now: the table must be whole, and still usable.
  std::string structure = "cannot take the write lock at the end";
  if (owner->table().Lock()) {
    structure = tlstest::CheckTable(owner->segment());
    owner->table().Unlock();
  }
  if (!structure.empty()) {
    std::fprintf(stderr, "  table structure after the kills: %s\n", structure.c_str());
    ++failures;
  }
  std::vector<uint8_t> out(kBlocksize + 8);
  for (uint32_t k = 0; k < kKeys; ++k) {
    const std::string key = KeyFor(k, 1 + k % kKeyLength);
    uint32_t length = 0;
    if (owner->table().Get(reinterpret_cast<const uint8_t*>(key.data()), key.size(), out.data(), &length,
                           WallMs()) == GetResult::kHit &&
        !CheckValue(k, out.data(), length).empty()) {
      std::fprintf(stderr, "  key %u holds a bad value after the run\n", k);
      ++failures;
    }
  }
  const Totals totals = owner->Sum();
  std::printf("processes: %d writers SIGKILLed %d times; %llu sets, %llu recoveries after a writer died "
              "holding the lock, %llu lock errors\n",
              kWriters, killed, (unsigned long long)totals.counters[kSets],
              (unsigned long long)totals.counters[kRecoveries], (unsigned long long)totals.counters[kErrors]);
  // Lock errors are write-lock time-outs (kLockTimeoutMs) against holders
  // descheduled on a loaded machine: a dropped write by design, reported, not
  // a failure. A wedged lock shows as a writer or the parent giving up above.
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "threads";
  const uint32_t scale = argc > 2 ? uint32_t(std::max(1, std::atoi(argv[2]))) : 1;
  int failures;
  if (mode == "probe") {
    return 0;  // run.sh: does this sanitizer runtime start at all on this kernel?
  } else if (mode == "threads") {
    failures = RunThreads(scale);
  } else if (mode == "processes") {
    failures = RunProcesses(scale);
  } else {
    std::fprintf(stderr, "usage: stress threads|processes [scale]\n");
    return 2;
  }
  std::printf("stress %s: %s\n", mode.c_str(), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
