// SipHash-1-3, the keyed hash of the cache index.
//
// Keys are TLS session ids that clients choose, so an unkeyed hash would let a
// client fill one bucket chain on purpose (hash flooding). SipHash with a random
// 128-bit key per segment makes chains unpredictable; the 1-3 variant is the one
// Rust's HashMap and CPython use for the same reason, fast on 32-byte keys.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tlsshm {

uint64_t SipHash13(const uint64_t key[2], const uint8_t* data, size_t length);

}  // namespace tlsshm
