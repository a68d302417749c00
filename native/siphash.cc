// SipHash-1-3 after Aumasson and Bernstein's reference implementation
// (https://github.com/veorq/SipHash, CC0), reduced to the 64-bit output.
#include "siphash.h"

#include <cstring>

namespace tlsshm {
namespace {

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

struct State {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1; v1 = Rotl(v1, 13); v1 ^= v0; v0 = Rotl(v0, 32);
    v2 += v3; v3 = Rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = Rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = Rotl(v1, 17); v1 ^= v2; v2 = Rotl(v2, 32);
  }
};

}  // namespace

uint64_t SipHash13(const uint64_t key[2], const uint8_t* data, size_t length) {
  State s{0x736f6d6570736575ULL ^ key[0], 0x646f72616e646f6dULL ^ key[1],
          0x6c7967656e657261ULL ^ key[0], 0x7465646279746573ULL ^ key[1]};
  const uint8_t* end = data + (length & ~size_t{7});
  for (; data != end; data += 8) {
    uint64_t m = ReadLe64(data);
    s.v3 ^= m;
    s.Round();
    s.v0 ^= m;
  }
  uint64_t last = uint64_t(length & 0xff) << 56;
  for (size_t i = 0; i < (length & 7); ++i) last |= uint64_t(data[i]) << (8 * i);
  s.v3 ^= last;
  s.Round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  s.Round();
  s.Round();
  s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace tlsshm
