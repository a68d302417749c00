// What the native test programs share: a minimal test runner, values that carry
// their own checksum, and a structural check of a segment's table.
//
// Plain C++ on purpose (no test framework to install): the programs are built
// by run.sh with sanitizers and must build wherever g++ does.
#pragma once

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../atomics.h"
#include "../cache.h"
#include "../layout.h"
#include "../segment.h"
#include "../siphash.h"
#include "../slots.h"
#include "../testhook.h"

namespace tlstest {

// ---- test runner -----------------------------------------------------------

inline int& Failures() {
  static int failures = 0;
  return failures;
}

// Reports a failed expectation with where it is; the test goes on so that one
// run shows every broken behaviour.
#define EXPECT(cond)                                                               \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      ++::tlstest::Failures();                                                     \
    }                                                                              \
  } while (0)

#define EXPECT_EQ(a, b)                                                            \
  do {                                                                             \
    const auto va_ = (a);                                                          \
    const auto vb_ = (b);                                                          \
    if (!(va_ == vb_)) {                                                           \
      std::fprintf(stderr, "  FAIL %s:%d: %s == %s (%s vs %s)\n", __FILE__, __LINE__, \
                   #a, #b, ::tlstest::Show(va_).c_str(), ::tlstest::Show(vb_).c_str()); \
      ++::tlstest::Failures();                                                     \
    }                                                                              \
  } while (0)

// Stops the current test: what follows depends on it.
#define REQUIRE(cond)                                                              \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "  FAIL %s:%d: %s (required, test stopped)\n", __FILE__, \
                   __LINE__, #cond);                                               \
      ++::tlstest::Failures();                                                     \
      return;                                                                      \
    }                                                                              \
  } while (0)

inline std::string Show(const std::string& s) { return "\"" + s + "\""; }
inline std::string Show(const char* s) { return s ? Show(std::string(s)) : "null"; }
inline std::string Show(bool b) { return b ? "true" : "false"; }
template <typename T>
std::string Show(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else {
    return std::to_string(v);
  }
}

// Exits at once (no destructors, no atexit): for forked children, which must
// not unmap or unlink what the parent still uses.
[[noreturn]] inline void ChildExit(int code) { _exit(code); }

// Call first thing in a forked child that could outlive a parent killed by a
// timeout (one that loops or stops itself): the kernel then kills it too.
inline void DieWithParent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(9);
}

// Waits for `pid`; returns its exit code, 128 + signal if it was killed, -1 on error.
inline int Wait(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A small deterministic generator (xorshift64*) so that every run of a seed
// does the same thing.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {
    if (s == 0) s = 1;
  }
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  uint32_t Below(uint32_t n) { return n == 0 ? 0 : uint32_t(Next() % n); }
};

// ---- self-checking values ----------------------------------------------------

// FNV-1a: independent of the SipHash under test, good enough to catch bytes
// from another value or a half-written one.
inline uint64_t Fnv1a(const uint8_t* p, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

// The key for key id `id`: a few bytes that differ per id, `length` long.
inline std::string KeyFor(uint32_t id, size_t length = 16) {
  std::string k(length, '\0');
  for (size_t i = 0; i < length; ++i) k[i] = char((id * 131u + i * 7u + (id >> 8)) & 0xff);
  if (length >= 4) std::memcpy(&k[0], &id, 4);
  return k;
}

constexpr size_t kValueHeader = 16;  // u32 key id, u32 length, u64 checksum

// A value of `length` bytes (>= kValueHeader) that names its key id and its own
// length and carries a checksum over everything else, so a reader can tell a
// torn value (bytes of two writes) or a foreign one (another key's) from a good one.
inline std::vector<uint8_t> MakeValue(uint32_t key_id, size_t length, uint64_t salt) {
  std::vector<uint8_t> v(length);
  uint32_t len32 = uint32_t(length);
  std::memcpy(&v[0], &key_id, 4);
  std::memcpy(&v[4], &len32, 4);
  uint64_t x = salt | 1;
  for (size_t i = kValueHeader; i < length; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = uint8_t(x);
  }
  uint64_t sum = Fnv1a(v.data(), 8);
  sum = Fnv1a(v.data() + kValueHeader, length - kValueHeader, sum);
  std::memcpy(&v[8], &sum, 8);
  return v;
}

// Empty string when `v` is a whole value written for `key_id`; otherwise what is wrong.
inline std::string CheckValue(uint32_t key_id, const uint8_t* v, size_t length) {
  if (length < kValueHeader) return "value shorter than its header";
  uint32_t id, len32;
  uint64_t sum;
  std::memcpy(&id, v, 4);
  std::memcpy(&len32, v + 4, 4);
  std::memcpy(&sum, v + 8, 8);
  if (id != key_id) return "foreign value: written for key " + std::to_string(id);
  if (len32 != length) return "length " + std::to_string(length) + " but value says " + std::to_string(len32);
  uint64_t expect = Fnv1a(v, 8);
  expect = Fnv1a(v + kValueHeader, length - kValueHeader, expect);
  if (expect != sum) return "torn value: checksum mismatch";
  return "";
}

// ---- looking inside a segment ---------------------------------------------------

inline tlsshm::SlotMeta* MetaAt(const tlsshm::Segment& s, uint32_t i) {
  const tlsshm::Header* h = s.header();
  return reinterpret_cast<tlsshm::SlotMeta*>(s.base() + h->meta_offset + uint64_t(i) * h->meta_stride);
}

// The key slot `i` holds (read from its chain), or "" if the chain is broken.
inline std::string KeyAt(const tlsshm::Segment& s, uint32_t i) {
  const tlsshm::SlotMeta* m = MetaAt(s, i);
  std::string key(m->key_length, '\0');
  if (m->key_length > tlsshm::kMaxKeyLength ||
      !s.chain().Copy(m->first_block, reinterpret_cast<uint8_t*>(&key[0]), m->key_length, nullptr, 0)) {
    return "";
  }
  return key;
}

// The hash a slot stores for `key`, and the bucket it selects (slots.h).
inline uint32_t StoredHash(const tlsshm::Segment& s, const std::string& key) {
  return uint32_t(tlsshm::SipHash13(s.header()->hash_key, reinterpret_cast<const uint8_t*>(key.data()), key.size()) >> 32);
}
inline uint32_t BucketOfHash(const tlsshm::Segment& s, uint32_t hash) {
  return uint32_t((uint64_t(hash) * s.header()->bucket_count) >> 32);
}

// The slot holding `key`, or -1 (a scan of every slot, not the index).
inline long FindSlot(const tlsshm::Segment& s, const std::string& key) {
  for (uint32_t i = 0; i < s.header()->items; ++i) {
    const tlsshm::SlotMeta* m = MetaAt(s, i);
    if (m->state == tlsshm::kSlotUsed && m->key_length == key.size() && KeyAt(s, i) == key) {
      return long(i);
    }
  }
  return -1;
}

// Checks the table's structure; returns "" or the first problem found. Call it
// with no writer active (the write lock held, or nobody else attached):
// - every seq is even; used slots have sane lengths and a non-zero expiry;
// - every used slot is on exactly one chain, the one its hash selects, with the
//   hash of its key, and no key appears twice;
// - the free list holds exactly the free slots, each once;
// - header.used counts the used slots.
inline std::string CheckTable(const tlsshm::Segment& s) {
  const tlsshm::Header* h = s.header();
  const uint32_t items = h->items;
  const uint32_t* buckets = reinterpret_cast<const uint32_t*>(s.base() + h->buckets_offset);
  std::vector<uint8_t> seen(items, 0);
  uint32_t used = 0;
  char msg[200];
  for (uint32_t i = 0; i < items; ++i) {
    const tlsshm::SlotMeta* m = MetaAt(s, i);
    if (m->seq & 1) {
      std::snprintf(msg, sizeof msg, "slot %u has an odd seq %u", i, m->seq);
      return msg;
    }
    if (m->state == tlsshm::kSlotUsed) {
      ++used;
      if (m->key_length < 1 || m->key_length > h->max_key_length || m->value_length > h->max_value_bytes ||
          m->expires_at_ms == 0) {
        std::snprintf(msg, sizeof msg, "slot %u used with key_length %u value_length %u expiry %llu", i,
                      m->key_length, m->value_length, (unsigned long long)m->expires_at_ms);
        return msg;
      }
    } else if (m->state != tlsshm::kSlotFree) {
      std::snprintf(msg, sizeof msg, "slot %u has state %u", i, m->state);
      return msg;
    }
  }
  if (h->used != used) {
    std::snprintf(msg, sizeof msg, "header says %u used, slots say %u", h->used, used);
    return msg;
  }
  uint32_t chained = 0;
  for (uint32_t b = 0; b < h->bucket_count; ++b) {
    uint32_t link = buckets[b];
    for (uint32_t steps = 0; link != 0; ++steps) {
      if (link > items || steps > items) return "a chain leaves the table or loops";
      const uint32_t i = link - 1;
      const tlsshm::SlotMeta* m = MetaAt(s, i);
      if (m->state != tlsshm::kSlotUsed) {
        std::snprintf(msg, sizeof msg, "free slot %u is on chain %u", i, b);
        return msg;
      }
      if (seen[i]) {
        std::snprintf(msg, sizeof msg, "slot %u is on a chain twice", i);
        return msg;
      }
      seen[i] = 1;
      ++chained;
      const uint32_t hash = StoredHash(s, KeyAt(s, i));
      if (m->hash != hash || BucketOfHash(s, hash) != b) {
        std::snprintf(msg, sizeof msg, "slot %u is on chain %u but its key hashes elsewhere", i, b);
        return msg;
      }
      // Duplicate keys: compare with the rest of this chain.
      for (uint32_t other = m->next, n = 0; other != 0 && other <= items && n < items; ++n) {
        const tlsshm::SlotMeta* o = MetaAt(s, other - 1);
        if (o->key_length == m->key_length && KeyAt(s, other - 1) == KeyAt(s, i)) {
          std::snprintf(msg, sizeof msg, "slots %u and %u hold the same key", i, other - 1);
          return msg;
        }
        other = o->next;
      }
      link = m->next;
    }
  }
  if (chained != used) {
    std::snprintf(msg, sizeof msg, "%u used slots but %u on chains", used, chained);
    return msg;
  }
  uint32_t free_count = 0;
  for (uint32_t link = h->free_head, steps = 0; link != 0; ++steps) {
    if (link > items || steps > items) return "the free list leaves the table or loops";
    const uint32_t i = link - 1;
    const tlsshm::SlotMeta* m = MetaAt(s, i);
    if (m->state != tlsshm::kSlotFree || seen[i]) {
      std::snprintf(msg, sizeof msg, "slot %u on the free list is used or listed twice", i);
      return msg;
    }
    seen[i] = 1;
    ++free_count;
    link = m->next;
  }
  if (free_count + used != items) {
    std::snprintf(msg, sizeof msg, "%u free + %u used != %u items", free_count, used, items);
    return msg;
  }
  // Blocks: every block is on exactly one used slot's chain or on the free list.
  const uint32_t blocks = h->blocks;
  const uint32_t* links = reinterpret_cast<const uint32_t*>(s.base() + h->links_offset);
  std::vector<uint8_t> owned(blocks, 0);
  uint64_t bytes = 0;
  uint32_t in_chains = 0;
  for (uint32_t i = 0; i < items; ++i) {
    const tlsshm::SlotMeta* m = MetaAt(s, i);
    if (m->state != tlsshm::kSlotUsed) {
      if (m->first_block != 0) {
        std::snprintf(msg, sizeof msg, "free slot %u still points at block %u", i, m->first_block - 1);
        return msg;
      }
      continue;
    }
    bytes += m->value_length;
    const uint32_t n = s.chain().BlocksFor(m->key_length, m->value_length);  // key, then value
    uint32_t b = m->first_block;
    for (uint32_t k = 0; k < n; ++k) {
      if (b == 0 || b > blocks || owned[b - 1]) {
        std::snprintf(msg, sizeof msg, "slot %u: chain link %u of %u is %u (out of range or shared)", i, k, n, b);
        return msg;
      }
      owned[b - 1] = 1;
      ++in_chains;
      if (k + 1 < n) b = links[b - 1];
    }
  }
  uint32_t blocks_free = 0;
  for (uint32_t b = h->block_free_head, steps = 0; b != 0; ++steps) {
    if (b > blocks || steps > blocks || owned[b - 1]) return "the block free list leaves the area, loops or holds an owned block";
    owned[b - 1] = 1;
    ++blocks_free;
    b = links[b - 1];
  }
  if (blocks_free != h->blocks_free || blocks_free + in_chains != blocks || bytes != h->bytes_stored) {
    std::snprintf(msg, sizeof msg, "blocks: %u free listed (header %u) + %u in chains != %u, or %llu bytes (header %llu)",
                  blocks_free, h->blocks_free, in_chains, blocks, (unsigned long long)bytes,
                  (unsigned long long)h->bytes_stored);
    return msg;
  }
  return "";
}

}  // namespace tlstest
