// Fuzz target over the table operations, checked against a model.
//
// A byte stream is decoded into set / get / delete / sweep / clock moves /
// rebuilds on a small table (1, 8 or 13 slots, few buckets, short keys and
// blocks, more keys than slots), and every result is compared with a std::map
// that follows the same rules:
// - an item is live while now < expires_at; an expired item reads as expired
//   until sweep (or eviction, or a delete) frees it;
// - a key or value over the limits is refused and changes nothing;
// - a set into a full table evicts exactly one other item: the model learns
//   which one by probing, so an evicted item may be missing, but a value read
//   back is always exactly the one last stored for that key;
// - a rebuild keeps every whole item and drops exactly a half-written one.
// After every operation the table's structure is checked (testing.h).
//
// Two ways to build it (run.sh does both where it can):
//   clang++ -fsanitize=fuzzer,...            libFuzzer (LLVMFuzzerTestOneInput)
//   g++ -DTLSSHM_FUZZ_DRIVER ...             a seeded random driver with main():
//                                            fuzz-driver [iterations] [seed]
#include <map>
#include <memory>

#include "testing.h"

using namespace tlsshm;

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz: model mismatch: %s %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// One segment per geometry, made once per process and wiped before each input.
struct Fixture {
  std::unique_ptr<Cache> cache;
  uint32_t items, blocksize, max_key;
};

Fixture* GetFixture(uint8_t selector) {
  static Fixture fixtures[3];
  static const uint32_t shapes[3][3] = {{1, 16, 1}, {8, 24, 8}, {13, 40, 12}};
  Fixture& f = fixtures[selector % 3];
  if (f.cache == nullptr) {
    Geometry g;
    g.items = shapes[selector % 3][0];
    // Values up to the shape's length, in 16-byte granules, two per item:
    // sets evict for blocks as well as for slots.
    g.blocksize = 16;
    g.blocks = 2 * g.items;
    g.max_value_bytes = shapes[selector % 3][1];
    g.max_key_length = shapes[selector % 3][2];
    g.default_ttl_s = 300;
    Error e;
    f.cache = Cache::CreateShm(g, &e);
    if (f.cache == nullptr) Fail("cannot create a segment:", e.message);
    f.items = g.items;
    f.blocksize = g.max_value_bytes;
    f.max_key = g.max_key_length;
  }
  // Back to a freshly formatted table (nothing else is attached to it).
  const Segment& s = f.cache->segment();
  Header* h = s.header();
  std::memset(s.base() + h->buckets_offset, 0, 4ull * h->bucket_count);
  std::memset(s.base() + h->meta_offset, 0, uint64_t(h->items) * h->meta_stride);
  std::memset(s.base() + h->links_offset, 0, 4ull * h->blocks);
  std::memset(s.base() + h->blocks_offset, 0, uint64_t(h->blocks) * h->block_stride);
  h->evict_hand = 0;
  f.cache->table().FormatSlots();
  return &f;
}

struct Input {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool More() const { return at < size; }
  uint8_t Byte() { return at < size ? data[at++] : 0; }
};

struct Item {
  std::string value;
  uint64_t expires;
};

class Run {
 public:
  Run(Fixture* f) : f_(f), t_(f->cache->table()) {}

  void Execute(Input& in) {
    while (in.More()) {
      const uint8_t op = in.Byte();
      switch (op % 8) {
        case 0: case 1: case 2: DoSet(in); break;
        case 3: DoGet(in); break;
        case 4: DoDelete(in); break;
        case 5: DoSweep(); break;
        case 6: now_ += in.Byte() % 16; break;
        default: DoSpecial(in); break;
      }
      ++ops_;
      if (t_.used() != model_.size()) {
        Fail("used count", std::to_string(t_.used()) + " vs model " + std::to_string(model_.size()));
      }
      std::string structure = tlstest::CheckTable(f_->cache->segment());
      if (!structure.empty()) Fail("table structure:", structure);
    }
  }

  uint64_t ops() const { return ops_; }
  uint64_t evictions() const { return evictions_; }
  uint64_t hits() const { return hits_; }

 private:
  // 24 valid keys of assorted lengths (distinct by their first byte), one empty
  // key and one a byte too long.
  std::string Key(uint8_t b) const {
    const uint32_t id = b % 26;
    if (id == 24) return "";
    if (id == 25) return std::string(f_->max_key + 1, 'k');
    const uint32_t length = 1 + (id * 5) % f_->max_key;
    std::string k(length, '\0');
    for (uint32_t i = 0; i < length; ++i) k[i] = char(i == 0 ? id : id * 31 + i);
    return k;
  }
  bool ValidKey(const std::string& k) const { return !k.empty() && k.size() <= f_->max_key; }

  const uint8_t* U(const std::string& s) const { return reinterpret_cast<const uint8_t*>(s.data()); }

  // Reads `key` at `now`; the value when it is a hit.
  GetResult Read(const std::string& key, uint64_t now, std::string* value) const {
    std::vector<uint8_t> out(f_->blocksize + 8);
    uint32_t n = 0;
    GetResult r = t_.Get(U(key), key.size(), out.data(), &n, now);
    if (r == GetResult::kHit) value->assign(reinterpret_cast<char*>(out.data()), n);
    return r;
  }

  // True when the table holds `key` at all, live or expired (expiry 0 is "free").
  bool Holds(const std::string& key) const {
    std::string ignored;
    return Read(key, 0, &ignored) == GetResult::kHit;
  }

  void DoSet(Input& in) {
    const std::string key = Key(in.Byte());
    const size_t length = in.Byte() % (f_->blocksize + 3);  // sometimes too long
    const uint8_t seed = in.Byte();
    const uint64_t expires = now_ + in.Byte() % 8;         // 0: expired at once
    std::string value(length, '\0');
    for (size_t i = 0; i < length; ++i) value[i] = char(seed + i * 13);
    const uint32_t blocks_free_before = t_.blocks_free();
    const SetResult r = t_.Set(U(key), key.size(), U(value), value.size(), expires, now_);
    if (!ValidKey(key) || length > f_->blocksize) {
      if (r != SetResult::kTooLarge) Fail("an oversized set was not refused");
      return;
    }
    // Values span 16-byte blocks: a set evicts (any number of items, closest
    // to expiry first) only when it lacked a slot or blocks; with room it
    // must evict nothing.
    auto found = model_.find(key);
    const bool replacing = found != model_.end();
    if (r != (replacing ? SetResult::kReplaced : SetResult::kInserted)) Fail("set returned the wrong result");
    // An item's blocks hold its key (in whole words) and then its value.
    const uint32_t granule = t_.blocksize();
    auto blocks_for = [&](size_t value_length) {
      return uint32_t((tlsshm::KeySpan(key.size()) + value_length + granule - 1) / granule);
    };
    const uint32_t freed = replacing ? blocks_for(found->second.value.size()) : 0;
    const bool had_room = (replacing || model_.size() < f_->items) && blocks_free_before + freed >= blocks_for(length);
    if (replacing) model_.erase(found);
    int gone = 0;
    for (auto it = model_.begin(); it != model_.end();) {
      if (!Holds(it->first)) {
        it = model_.erase(it);
        ++gone;
      } else {
        ++it;
      }
    }
    if (had_room && gone != 0) Fail("a set with room evicted", std::to_string(gone) + " items");
    if (!had_room && gone == 0) Fail("a set without room evicted nothing");
    evictions_ += uint64_t(gone);
    model_[key] = Item{value, expires};
  }

  void Expect(const std::string& key, uint64_t now) {
    std::string value;
    const GetResult r = Read(key, now, &value);
    auto found = model_.find(key);
    if (found == model_.end()) {
      if (r != GetResult::kMiss) Fail("an absent key was found");
    } else if (found->second.expires <= now) {
      if (r != GetResult::kExpired) Fail("an expired item was not reported expired");
    } else {
      if (r != GetResult::kHit) Fail("a live item was not found");
      if (value != found->second.value) Fail("a wrong value was returned");
      ++hits_;
    }
  }

  void DoGet(Input& in) { Expect(Key(in.Byte()), now_); }

  void DoDelete(Input& in) {
    const std::string key = Key(in.Byte());
    const bool removed = t_.Delete(U(key), key.size());
    const bool expected = model_.erase(key) == 1;
    if (removed != expected) Fail("delete disagreed with the model");
  }

  void DoSweep() {
    uint32_t expired = 0;
    for (auto it = model_.begin(); it != model_.end();) {
      if (it->second.expires <= now_) {
        it = model_.erase(it);
        ++expired;
      } else {
        ++it;
      }
    }
    const uint32_t freed = t_.Sweep(now_);
    if (freed != expired) Fail("sweep freed", std::to_string(freed) + " not " + std::to_string(expired));
  }

  void DoSpecial(Input& in) {
    const uint8_t b = in.Byte();
    switch (b % 4) {
      case 0:  // a rebuild with nothing half written keeps everything
        if (!t_.Lock()) Fail("lock");
        t_.Rebuild();
        t_.Unlock();
        break;
      case 1: {  // a writer died in the middle of one item: only that one goes
        if (model_.empty()) break;
        auto victim = model_.begin();
        std::advance(victim, in.Byte() % model_.size());
        const long slot = tlstest::FindSlot(f_->cache->segment(), victim->first);
        if (slot < 0) Fail("a model item has no slot");
        SlotMeta* m = tlstest::MetaAt(f_->cache->segment(), uint32_t(slot));
        StoreRelaxed(m->seq, m->seq + 1);
        if (!t_.Lock()) Fail("lock");
        t_.Rebuild();
        t_.Unlock();
        model_.erase(victim);
        break;
      }
      case 2:  // a read at another time (past or future)
        Expect(Key(in.Byte()), now_ - 8 + in.Byte() % 24);
        break;
      default:  // every key, now
        for (uint32_t b2 = 0; b2 < 26; ++b2) Expect(Key(uint8_t(b2)), now_);
        break;
    }
  }

  Fixture* f_;
  Table& t_;
  std::map<std::string, Item> model_;
  uint64_t now_ = 1'000'000;
  uint64_t ops_ = 0, evictions_ = 0, hits_ = 0;
};

struct RunStats {
  uint64_t inputs = 0, ops = 0, evictions = 0, hits = 0;
};

RunStats& RunTotals() {
  static RunStats totals;
  return totals;
}

void RunOne(const uint8_t* data, size_t size) {
  if (size == 0) return;
  Fixture* f = GetFixture(data[0]);
  Input in{data + 1, size - 1};
  Run run(f);
  run.Execute(in);
  RunStats& t = RunTotals();
  ++t.inputs;
  t.ops += run.ops();
  t.evictions += run.evictions();
  t.hits += run.hits();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RunOne(data, size);
  return 0;
}

#ifdef TLSSHM_FUZZ_DRIVER
// Without libFuzzer: feeds pseudo-random byte streams of random lengths. The
// same iterations and seed give the same streams, so a failure can be replayed.
int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 3000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  tlstest::Rng rng(seed);
  std::vector<uint8_t> bytes;
  for (long i = 0; i < iterations; ++i) {
    bytes.resize(1 + rng.Below(i % 10 == 0 ? 4096 : 512));
    for (uint8_t& b : bytes) b = uint8_t(rng.Next() >> 32);
    RunOne(bytes.data(), bytes.size());
  }
  const RunStats& t = RunTotals();
  // Streams that never filled the table or never read a value back checked little.
  const bool exercised = t.evictions > 0 && t.hits > 0;
  std::printf("fuzz driver (seed %llu): %llu inputs, %llu operations, %llu evictions, %llu verified hits: %s\n",
              (unsigned long long)seed, (unsigned long long)t.inputs, (unsigned long long)t.ops,
              (unsigned long long)t.evictions, (unsigned long long)t.hits,
              exercised ? "ok" : "FAILED (no eviction or no hit: nothing was checked)");
  return exercised ? 0 : 1;
}
#endif
