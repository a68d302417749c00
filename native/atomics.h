// Access to memory that other processes read and write at the same time.
//
// The segment is plain bytes, so std::atomic<T> cannot be placed in it portably;
// the GCC/Clang __atomic builtins give the same guarantees on plain objects and
// are understood by ThreadSanitizer.
#pragma once

#include <cstdint>
#include <cstring>

namespace tlsshm {

template <typename T>
inline T LoadRelaxed(const T& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }
template <typename T>
inline T LoadAcquire(const T& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }
template <typename T>
inline void StoreRelaxed(T& v, T x) { __atomic_store_n(&v, x, __ATOMIC_RELAXED); }
template <typename T>
inline void StoreRelease(T& v, T x) { __atomic_store_n(&v, x, __ATOMIC_RELEASE); }
template <typename T>
inline void AddRelaxed(T& v, T x) { __atomic_fetch_add(&v, x, __ATOMIC_RELAXED); }

inline void FenceAcquire() { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
inline void FenceRelease() { __atomic_thread_fence(__ATOMIC_RELEASE); }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Copies `n` bytes out of shared memory word by word with relaxed atomic loads.
// `src` must be 8-aligned and readable up to n rounded up to 8 (the segment pads
// keys and blocks to whole words), so the copy never reads past its area.
inline void CopyOut(uint8_t* dst, const uint8_t* src, size_t n) {
  const uint64_t* words = reinterpret_cast<const uint64_t*>(src);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = LoadRelaxed(words[i / 8]);
    std::memcpy(dst + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = LoadRelaxed(words[i / 8]);
    std::memcpy(dst + i, &w, n - i);
  }
}

// The converse of CopyOut: stores `n` bytes word by word, zero-padding the last.
inline void CopyIn(uint8_t* dst, const uint8_t* src, size_t n) {
  uint64_t* words = reinterpret_cast<uint64_t*>(dst);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    StoreRelaxed(words[i / 8], w);
  }
  if (i < n) {
    uint64_t w = 0;
    std::memcpy(&w, src + i, n - i);
    StoreRelaxed(words[i / 8], w);
  }
}

// Compares `n` bytes in shared memory with `key`, with the same access rules.
inline bool EqualsShared(const uint8_t* shared, const uint8_t* key, size_t n) {
  const uint64_t* words = reinterpret_cast<const uint64_t*>(shared);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = LoadRelaxed(words[i / 8]);
    if (std::memcmp(&w, key + i, 8) != 0) return false;
  }
  if (i < n) {
    uint64_t w = LoadRelaxed(words[i / 8]);
    if (std::memcmp(&w, key + i, n - i) != 0) return false;
  }
  return true;
}

}  // namespace tlsshm
