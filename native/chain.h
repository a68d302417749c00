// Reading an item's chain of blocks (layout.h): the key, then the value, over
// ceil((KeySpan(key_length) + value_length) / block_stride) blocks linked
// through links[].
//
// Used without a lock (Table::Get, the outbox drainer) as well as under it: it
// follows exactly the blocks the lengths announce and range-checks every link,
// so a chain that changes underneath ends the copy early (false) instead of
// reading out of bounds or looping. Callers without the lock confirm the
// slot's sequence number afterwards and discard the copy if it moved.
#pragma once

#include <cstdint>

#include "atomics.h"
#include "testhook.h"

namespace tlsshm {

// The key takes whole 8-byte words (zero padding after it), and each block
// holds block_stride bytes of the item (blocksize rounded up to 8): every
// copy then starts 8-aligned, as CopyOut/CopyIn (atomics.h) need.
inline uint64_t KeySpan(uint64_t key_length) { return (key_length + 7) & ~uint64_t{7}; }

struct ChainArea {
  uint8_t* blocks = nullptr;  // block 0
  uint32_t* links = nullptr;  // links[count]
  uint32_t block_stride = 0;  // bytes of the item per block
  uint32_t count = 0;         // number of blocks

  uint8_t* Block(uint32_t b) const { return blocks + uint64_t(b) * block_stride; }
  // Blocks an item of this key and value takes.
  uint32_t BlocksFor(uint64_t key_length, uint64_t value_length) const {
    return uint32_t((KeySpan(key_length) + value_length + block_stride - 1) / block_stride);
  }

  // Copies the chain at `first` (block + 1): `key_length` bytes into key_out,
  // then `value_length` bytes into value_out (null when value_length is 0: a
  // key comparison reads the key's blocks only). False if a link was out of
  // range.
  bool Copy(uint32_t first, uint8_t* key_out, uint32_t key_length, uint8_t* value_out,
            uint32_t value_length) const {
    const uint64_t key_span = KeySpan(key_length);
    const uint64_t total = key_span + value_length;
    if (total > 2ull * block_stride) {
      // A large item: ask for all its blocks before copying the first, so the
      // cache misses overlap instead of queueing one block at a time (about
      // 10 % off a 2 KiB read from a table larger than the cache). Links are
      // range-checked as below; a prefetch never faults.
      uint32_t p = first;
      for (uint64_t at = 0; at < total && p != 0 && p <= count; at += block_stride) {
        const uint8_t* block = Block(p - 1);
        for (uint32_t off = 0; off < block_stride; off += 64) __builtin_prefetch(block + off);
        p = LoadRelaxed(links[p - 1]);
      }
    }
    uint32_t b = first;
    for (uint64_t at = 0; at < total;) {  // `at`: bytes of the item behind us
      if (b == 0 || b > count) return false;
      const uint8_t* block = Block(b - 1);
      const uint32_t chunk = total - at < block_stride ? uint32_t(total - at) : block_stride;
      if (at < key_length) {
        const uint64_t k = key_length - at < chunk ? key_length - at : chunk;
        CopyOut(key_out + at, block, k);
      }
      if (at + chunk > key_span) {
        const uint64_t skip = at < key_span ? key_span - at : 0;  // 8-aligned
        CopyOut(value_out + (at + skip - key_span), block + skip, chunk - skip);
      }
      at += chunk;
      if (at < total) b = LoadRelaxed(links[b - 1]);
    }
    return true;
  }

  // The writer's converse, under the write lock: fills the chain at `first`,
  // which has BlocksFor(key_length, value_length) blocks.
  void Fill(uint32_t first, const uint8_t* key, uint32_t key_length, const uint8_t* value,
            uint32_t value_length) const {
    const uint64_t key_span = KeySpan(key_length);
    const uint64_t total = key_span + value_length;
    uint32_t b = first;
    for (uint64_t at = 0; at < total;) {
      if (b == 0 || b > count) return;  // a corrupt list: the caller checked the chain
      uint8_t* block = Block(b - 1);
      const uint32_t chunk = total - at < block_stride ? uint32_t(total - at) : block_stride;
      if (at < key_span) {
        // The key's words; CopyIn zero-pads the last one.
        const uint64_t k = key_length - at < chunk ? key_length - at : chunk;
        if (at < key_length) CopyIn(block, key + at, k);
      }
      if (at + chunk > key_span) {
        const uint64_t skip = at < key_span ? key_span - at : 0;
        CopyIn(block + skip, value + (at + skip - key_span), chunk - skip);
      }
      at += chunk;
      TLSSHM_TEST_HOOK("set.block");
      if (at < total) b = LoadRelaxed(links[b - 1]);
    }
  }
};

}  // namespace tlsshm
