// The native benchmark: what the shm table costs per operation with no Node
// in the way, and the floor of any design that asks another process instead
// (a request/response round trip over a Unix domain socket and over pipes).
//
//   bench [--items N] [--ms M] [--rounds R] [--batch-ns T]
//
// Prints one JSON document to stdout (bench/native/run.js reads it):
//   { "parameters": {...}, "cases": [ { "name", "op", "valueBytes", "processes",
//     "medianNs", "p99Ns", "ops", "opsPerSec", "okRatio", "batch", "samples" } ] }
//
// Method, the same as bench/micro's: an operation that takes tens of
// nanoseconds cannot be timed alone (the clock costs about as much), so table
// operations run in batches sized to last ~T ns, each batch timed with two
// clock reads; per-operation time = (batch time - clock overhead) / batch size;
// median and p99 over batches (the p99 is one of batch averages). A round trip
// to another process takes microseconds and is timed one at a time. Each case
// runs `rounds` times for M ms; a figure is the median over rounds.
//
// Built with optimisation and without sanitizers by native/bench/build.sh.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../cache.h"
#include "../lock.h"
#include "../segment.h"
#include "../slots.h"

using namespace tlsshm;

namespace {

constexpr uint32_t kKeyBytes = 32;       // a TLS session ID
constexpr uint32_t kRequestBytes = 32;   // IPC floor: the key goes one way...
constexpr uint32_t kAnswerBytes = 160;   // ...a TLS 1.2 session (DER) comes back
constexpr uint64_t kTtlMs = 3600 * 1000;

struct Params {
  uint32_t items = 10000;
  uint32_t ms = 1000;
  uint32_t rounds = 3;
  uint32_t batch_ns = 20000;
};

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "bench: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Median cost of two back-to-back clock reads, subtracted from every batch.
double ClockOverheadNs() {
  std::vector<double> d(20000);
  for (double& x : d) {
    uint64_t a = NowNs();
    x = double(NowNs() - a);
  }
  std::sort(d.begin(), d.end());
  return d[d.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  return v[i];
}

// One timed run of a case: per-batch (or per-call) figures and totals.
struct Run {
  std::vector<double> per_op_ns;
  uint64_t ops = 0;
  uint64_t ok = 0;
  uint64_t elapsed_ns = 0;
};

// A figure over rounds: the median of each statistic.
struct Figure {
  double median_ns = 0, p99_ns = 0, ops_per_sec = 0, ok_ratio = 1;
  uint64_t ops = 0, samples = 0;
  uint32_t batch = 1;
};

Figure Summarize(const std::vector<Run>& runs, uint32_t batch) {
  std::vector<double> medians, p99s, rates;
  Figure f;
  f.batch = batch;
  for (const Run& r : runs) {
    medians.push_back(Percentile(r.per_op_ns, 0.5));
    p99s.push_back(Percentile(r.per_op_ns, 0.99));
    rates.push_back(r.elapsed_ns ? double(r.ops) * 1e9 / double(r.elapsed_ns) : 0);
    f.ops += r.ops;
    f.samples += r.per_op_ns.size();
    if (r.ops) f.ok_ratio = std::min(f.ok_ratio, double(r.ok) / double(r.ops));
  }
  f.median_ns = Percentile(medians, 0.5);
  f.p99_ns = Percentile(p99s, 0.5);
  f.ops_per_sec = Percentile(rates, 0.5);
  return f;
}

// Runs `batch_fn(n)` (returns how many of its n calls succeeded) in timed
// batches for `ms` milliseconds.
Run TimeBatches(const std::function<uint64_t(uint32_t)>& batch_fn, uint32_t batch, uint32_t ms,
                double overhead_ns) {
  Run r;
  const uint64_t start = NowNs();
  const uint64_t deadline = start + uint64_t(ms) * 1000000ull;
  uint64_t t1 = start;
  do {
    const uint64_t t0 = NowNs();
    r.ok += batch_fn(batch);
    t1 = NowNs();
    r.per_op_ns.push_back(std::max(0.0, double(t1 - t0) - overhead_ns) / batch);
    r.ops += batch;
  } while (t1 < deadline);
  r.elapsed_ns = t1 - start;
  return r;
}

// Batch size that makes a batch last about batch_ns, from a short warm-up run.
uint32_t SizeBatch(const std::function<uint64_t(uint32_t)>& batch_fn, const Params& p, double overhead_ns) {
  Run w = TimeBatches(batch_fn, 64, std::max<uint32_t>(20, p.ms / 5), overhead_ns);
  double per_op = double(w.elapsed_ns) / double(std::max<uint64_t>(w.ops, 1));
  return std::max(1u, std::min(4096u, uint32_t(double(p.batch_ns) / std::max(per_op, 1.0) + 0.5)));
}

// ---- the table ----------------------------------------------------------------

std::string KeyFor(uint32_t i) {
  std::string k(kKeyBytes, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
  for (uint32_t b = 0; b < kKeyBytes; ++b) {
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    k[b] = char(x >> 56);
  }
  return k;
}

// The order in which keys are visited: a fixed pseudo-random walk, so that
// consecutive operations touch unrelated slots (as handshakes do).
std::vector<uint32_t> Order(uint32_t items, uint32_t length, uint64_t seed) {
  std::vector<uint32_t> order(length);
  uint64_t x = seed;
  for (uint32_t& o : order) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    o = uint32_t((x >> 33) % items);
  }
  return order;
}

struct Workload {
  std::vector<std::string> keys;
  std::vector<uint32_t> order;  // length a power of two
  std::vector<uint8_t> value;
  std::vector<uint8_t> out;
  uint32_t pos = 0;
};

Workload MakeWorkload(uint32_t items, uint32_t value_bytes, uint32_t blocksize, uint64_t seed) {
  Workload w;
  for (uint32_t i = 0; i < items; ++i) w.keys.push_back(KeyFor(i));
  w.order = Order(items, 1u << 16, seed);
  w.value.resize(value_bytes);
  for (uint32_t i = 0; i < value_bytes; ++i) w.value[i] = uint8_t(i * 31 + 7);
  w.out.resize(blocksize);
  return w;
}

std::function<uint64_t(uint32_t)> GetBatch(Table& table, Workload& w) {
  return [&table, &w](uint32_t n) {
    uint64_t found = 0;
    const uint64_t now = NowMs();
    for (uint32_t j = 0; j < n; ++j) {
      const std::string& k = w.keys[w.order[w.pos]];
      w.pos = (w.pos + 1) & uint32_t(w.order.size() - 1);
      uint32_t length = 0;
      found += table.Get(reinterpret_cast<const uint8_t*>(k.data()), k.size(), w.out.data(), &length, now) ==
               GetResult::kHit;
    }
    return found;
  };
}

// set over `keys`: replaces in place when the keys are in the table; inserts
// and evicts when there are more keys than slots (a new session each time).
std::function<uint64_t(uint32_t)> SetBatch(Table& table, Workload& w) {
  return [&table, &w](uint32_t n) {
    uint64_t stored = 0;
    const uint64_t now = NowMs();
    for (uint32_t j = 0; j < n; ++j) {
      const std::string& k = w.keys[w.order[w.pos]];
      w.pos = (w.pos + 1) & uint32_t(w.order.size() - 1);
      SetResult r = table.Set(reinterpret_cast<const uint8_t*>(k.data()), k.size(), w.value.data(),
                              w.value.size(), now + kTtlMs, now);
      stored += r == SetResult::kInserted || r == SetResult::kReplaced;
    }
    return stored;
  };
}

// The library's default granule (src/core/shared-cache.ts DEFAULT_BLOCKSIZE)
// and value limit; blocks for every slot to hold an item of `value_bytes`.
constexpr uint32_t kBlocksize = 96;
constexpr uint32_t kDefaultMaxValueBytes = 10240;

std::unique_ptr<Cache> NewCache(uint32_t items, uint32_t value_bytes) {
  Geometry g;
  g.items = items;
  g.blocksize = kBlocksize;
  const uint32_t per_item = uint32_t((KeySpan(kKeyBytes) + value_bytes + kBlocksize - 1) / kBlocksize);
  g.blocks = std::max(items * per_item, uint32_t((KeySpan(64) + kDefaultMaxValueBytes + kBlocksize - 1) / kBlocksize));
  g.max_value_bytes = kDefaultMaxValueBytes;
  g.max_key_length = 64;
  g.default_ttl_s = 3600;
  Error error;
  std::unique_ptr<Cache> cache = Cache::CreateShm(g, &error);
  if (!cache) {
    std::fprintf(stderr, "bench: creating a segment: %s %s\n", error.code.c_str(), error.message.c_str());
    std::exit(1);
  }
  return cache;
}

void Warm(Table& table, Workload& w) {
  const uint64_t now = NowMs();
  for (const std::string& k : w.keys) {
    table.Set(reinterpret_cast<const uint8_t*>(k.data()), k.size(), w.value.data(), w.value.size(), now + kTtlMs,
              now);
  }
}

struct Case {
  std::string name, op;
  uint32_t value_bytes = 0, processes = 1;
  Figure figure;
};

Figure RunRounds(const std::function<uint64_t(uint32_t)>& batch_fn, const Params& p, double overhead_ns) {
  const uint32_t batch = SizeBatch(batch_fn, p, overhead_ns);
  std::vector<Run> runs;
  for (uint32_t r = 0; r < p.rounds; ++r) runs.push_back(TimeBatches(batch_fn, batch, p.ms, overhead_ns));
  return Summarize(runs, batch);
}

// ---- two processes -------------------------------------------------------------

void WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Die("write");
    p += w;
    n -= size_t(w);
  }
}

// False at end of file.
bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) Die("read");
    if (r == 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

// Two processes read the same warm table at once, each through its own
// attachment (as two cluster workers do); both start on a signal through a
// pipe. The child sends its figures back over another pipe. The result pools
// the two processes' per-round medians.
Figure TwoReaders(const std::string& handle, uint32_t items, uint32_t value_bytes, uint32_t blocksize,
                  const Params& p, double overhead_ns) {
  int go[2], back[2];
  if (pipe(go) != 0 || pipe(back) != 0) Die("pipe");
  auto readers_run = [&](Table& table, uint64_t seed) {
    Workload w = MakeWorkload(items, value_bytes, blocksize, seed);
    auto fn = GetBatch(table, w);
    const uint32_t batch = SizeBatch(fn, p, overhead_ns);
    std::vector<Run> runs;
    for (uint32_t r = 0; r < p.rounds; ++r) runs.push_back(TimeBatches(fn, batch, p.ms, overhead_ns));
    return Summarize(runs, batch);
  };
  pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    close(go[1]);
    close(back[0]);
    Error error;
    std::unique_ptr<Cache> mine = Cache::Open(handle, &error);
    if (!mine) _exit(3);
    char c;
    if (!ReadAll(go[0], &c, 1)) _exit(4);
    Figure f = readers_run(mine->table(), 0x5bd1e995);
    WriteAll(back[1], &f, sizeof f);
    mine->Close();
    _exit(0);
  }
  close(go[0]);
  close(back[1]);
  Error error;
  std::unique_ptr<Cache> mine = Cache::Open(handle, &error);
  if (!mine) {
    std::fprintf(stderr, "bench: opening the segment again: %s\n", error.message.c_str());
    std::exit(1);
  }
  WriteAll(go[1], "g", 1);
  Figure a = readers_run(mine->table(), 0x9e3779b9);
  Figure b;
  bool got = ReadAll(back[0], &b, sizeof b);
  int status = 0;
  waitpid(child, &status, 0);
  close(go[1]);
  close(back[0]);
  mine->Close();
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench: the second reader failed (status %d)\n", status);
    std::exit(1);
  }
  Figure f;
  f.median_ns = (a.median_ns + b.median_ns) / 2;
  f.p99_ns = std::max(a.p99_ns, b.p99_ns);
  f.ops_per_sec = a.ops_per_sec + b.ops_per_sec;  // both processes together
  f.ok_ratio = std::min(a.ok_ratio, b.ok_ratio);
  f.ops = a.ops + b.ops;
  f.samples = a.samples + b.samples;
  f.batch = a.batch;
  return f;
}

// ---- the IPC floor -------------------------------------------------------------

// A request/response round trip to another process: send a 32-byte key, the
// other side reads it and answers 160 bytes, which this side reads whole. No
// lookup at all on the other side: this is what any IPC design pays at least.
// `to` / `from` are this side's ends; the child gets `child_in` / `child_out`.
Figure RoundTrips(int to, int from, int child_in, int child_out, const std::vector<int>& close_in_child,
                  const std::vector<int>& close_in_parent, const Params& p, double overhead_ns) {
  pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    for (int fd : close_in_child) close(fd);
    uint8_t request[kRequestBytes];
    uint8_t answer[kAnswerBytes];
    std::memset(answer, 0x5a, sizeof answer);
    while (ReadAll(child_in, request, sizeof request)) {
      answer[0] = request[0];
      WriteAll(child_out, answer, sizeof answer);
    }
    _exit(0);
  }
  for (int fd : close_in_parent) close(fd);
  uint8_t request[kRequestBytes];
  uint8_t answer[kAnswerBytes];
  std::memset(request, 0xa5, sizeof request);
  auto one_round = [&](uint32_t ms) {
    Run r;
    const uint64_t start = NowNs();
    const uint64_t deadline = start + uint64_t(ms) * 1000000ull;
    uint64_t t1 = start;
    do {
      const uint64_t t0 = NowNs();
      request[0] = uint8_t(r.ops);
      WriteAll(to, request, sizeof request);
      if (!ReadAll(from, answer, sizeof answer)) Die("the other side closed");
      t1 = NowNs();
      r.per_op_ns.push_back(std::max(0.0, double(t1 - t0) - overhead_ns));
      r.ok += answer[0] == request[0];
      r.ops++;
    } while (t1 < deadline);
    r.elapsed_ns = t1 - start;
    return r;
  };
  one_round(std::max<uint32_t>(20, p.ms / 5));  // warm-up
  std::vector<Run> runs;
  for (uint32_t i = 0; i < p.rounds; ++i) runs.push_back(one_round(p.ms));
  close(to);
  if (from != to) close(from);
  int status = 0;
  waitpid(child, &status, 0);
  return Summarize(runs, 1);
}

Figure UnixSocketRoundTrips(const Params& p, double overhead_ns) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) Die("socketpair");
  return RoundTrips(sv[0], sv[0], sv[1], sv[1], {sv[0]}, {sv[1]}, p, overhead_ns);
}

Figure PipeRoundTrips(const Params& p, double overhead_ns) {
  int request[2], answer[2];
  if (pipe2(request, O_CLOEXEC) != 0 || pipe2(answer, O_CLOEXEC) != 0) Die("pipe2");
  return RoundTrips(request[1], answer[0], request[0], answer[1], {request[1], answer[0]}, {request[0], answer[1]},
                    p, overhead_ns);
}

// ---- output --------------------------------------------------------------------

void PrintJson(const Params& p, double overhead_ns, const std::vector<Case>& cases) {
  std::printf("{\n  \"parameters\": {\"items\": %u, \"ms\": %u, \"rounds\": %u, \"batchNs\": %u, \"keyBytes\": %u, "
              "\"requestBytes\": %u, \"answerBytes\": %u},\n",
              p.items, p.ms, p.rounds, p.batch_ns, kKeyBytes, kRequestBytes, kAnswerBytes);
  std::printf("  \"clockOverheadNs\": %.1f,\n  \"cases\": [\n", overhead_ns);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Figure& f = c.figure;
    std::printf("    {\"name\": \"%s\", \"op\": \"%s\", \"valueBytes\": %u, \"processes\": %u, \"medianNs\": %.2f, "
                "\"p99Ns\": %.2f, \"opsPerSec\": %.0f, \"okRatio\": %.4f, \"ops\": %llu, \"samples\": %llu, "
                "\"batch\": %u}%s\n",
                c.name.c_str(), c.op.c_str(), c.value_bytes, c.processes, f.median_ns, f.p99_ns, f.ops_per_sec,
                f.ok_ratio, static_cast<unsigned long long>(f.ops), static_cast<unsigned long long>(f.samples),
                f.batch, i + 1 < cases.size() ? "," : "");
  }
  std::printf("  ]\n}\n");
}

uint32_t Flag(int argc, char** argv, int& i) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "bench: %s needs a value\n", argv[i]);
    std::exit(2);
  }
  char* end = nullptr;
  unsigned long v = std::strtoul(argv[++i], &end, 10);
  if (*end != '\0' || v == 0 || v > 0xffffffffu) {
    std::fprintf(stderr, "bench: %s takes a positive integer, got '%s'\n", argv[i - 1], argv[i]);
    std::exit(2);
  }
  return uint32_t(v);
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--items") p.items = Flag(argc, argv, i);
    else if (a == "--ms") p.ms = Flag(argc, argv, i);
    else if (a == "--rounds") p.rounds = Flag(argc, argv, i);
    else if (a == "--batch-ns") p.batch_ns = Flag(argc, argv, i);
    else {
      std::fprintf(stderr, "usage: bench [--items N] [--ms M] [--rounds R] [--batch-ns T]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  const double overhead_ns = ClockOverheadNs();
  std::vector<Case> cases;

  for (uint32_t value_bytes : {160u, 1000u}) {
    const uint32_t blocksize = kDefaultMaxValueBytes;  // room the reads copy into
    // Twice as many slots as keys, as bench:micro does: every get hits.
    std::unique_ptr<Cache> cache = NewCache(p.items * 2, value_bytes);
    Table& table = cache->table();
    Workload w = MakeWorkload(p.items, value_bytes, blocksize, 0x9e3779b9);
    Warm(table, w);
    cases.push_back({"get", "get", value_bytes, 1, RunRounds(GetBatch(table, w), p, overhead_ns)});
    cases.push_back({"set (replace)", "set", value_bytes, 1, RunRounds(SetBatch(table, w), p, overhead_ns)});
    if (value_bytes == 160) {
      cases.push_back({"get, 2 processes at once", "get", value_bytes, 2,
                       TwoReaders(cache->segment().handle(), p.items, value_bytes, blocksize, p, overhead_ns)});
    }
    cache->Close();
  }
  {
    // A new session every time: four times as many keys as slots, so nearly
    // every set misses, evicts the slot closest to expiry and inserts. This is
    // what a full handshake holds the write lock for (an upper bound: the
    // hashing is inside the call but outside the lock).
    std::unique_ptr<Cache> cache = NewCache(p.items, 160);
    Workload w = MakeWorkload(p.items * 4, 160, kDefaultMaxValueBytes, 0x12345);
    cases.push_back({"set (new key, evicts)", "set", 160, 1, RunRounds(SetBatch(cache->table(), w), p, overhead_ns)});
    Table& table = cache->table();
    auto lock_batch = [&table](uint32_t n) {
      uint64_t held = 0;
      for (uint32_t j = 0; j < n; ++j) {
        if (table.Lock()) {
          held++;
          table.Unlock();
        }
      }
      return held;
    };
    cases.push_back({"write lock + unlock, uncontended", "lock", 0, 1, RunRounds(lock_batch, p, overhead_ns)});
    cache->Close();
  }
  cases.push_back({"round trip, Unix domain socket", "ipc", kAnswerBytes, 2, UnixSocketRoundTrips(p, overhead_ns)});
  cases.push_back({"round trip, pipes", "ipc", kAnswerBytes, 2, PipeRoundTrips(p, overhead_ns)});
  PrintJson(p, overhead_ns, cases);
  return 0;
}
