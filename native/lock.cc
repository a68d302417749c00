#include "lock.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

#include "atomics.h"
#include "testhook.h"

namespace tlsshm {

#ifdef TLSSHM_TEST_HOOKS
void (*volatile test_hook)(const char* point) = nullptr;
#endif

namespace {

// Sleeps `ns` on the monotonic clock (EINTR ends it early, which is harmless).
void SleepMonotonic(uint64_t ns) {
  struct timespec ts;
  ts.tv_sec = time_t(ns / 1000000000u);
  ts.tv_nsec = long(ns % 1000000000u);
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

}  // namespace

int InitRobustMutex(pthread_mutex_t* mutex) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc != 0) return rc;
  rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  return rc;
}

LockStatus LockRobust(pthread_mutex_t* mutex, uint32_t timeout_ms, const uint64_t* progress,
                      void (*recover)(void*), void* context) {
  // Fast path: most locks are uncontended.
  int rc = pthread_mutex_trylock(mutex);
  bool moved = false;
  if (rc == EBUSY && timeout_ms > 0) {
    // Writers hold the lock for microseconds: spin a little before sleeping.
    for (int spin = 0; spin < 64 && rc == EBUSY; ++spin) {
      CpuRelax();
      rc = pthread_mutex_trylock(mutex);
    }
    const uint64_t deadline = MonotonicNs() + uint64_t(timeout_ms) * 1000000u;
    const uint64_t seen = progress != nullptr ? LoadRelaxed(*progress) : 0;
    uint64_t nap_ns = 20000;  // 20 us, doubling to 1 ms
    while (rc == EBUSY) {
      TLSSHM_TEST_HOOK("lock.wait");
      SleepMonotonic(nap_ns);
      rc = pthread_mutex_trylock(mutex);
      if (rc == EBUSY && MonotonicNs() >= deadline) {
        rc = ETIMEDOUT;
        moved = progress != nullptr && LoadRelaxed(*progress) != seen;
      }
      if (nap_ns < 1000000) nap_ns *= 2;
    }
  } else if (rc == EBUSY) {
    rc = ETIMEDOUT;
  }
  switch (rc) {
    case 0:
      return LockStatus::kLocked;
    case EOWNERDEAD:
      // We hold the lock, but the data it guards may be half written.
      if (recover != nullptr) recover(context);
      if (pthread_mutex_consistent(mutex) != 0) {
        pthread_mutex_unlock(mutex);
        return LockStatus::kFailed;
      }
      return LockStatus::kRecovered;
    case ETIMEDOUT:
      return moved ? LockStatus::kBusy : LockStatus::kTimedOut;
    default:  // ENOTRECOVERABLE, EINVAL: a corrupt or foreign mutex
      return LockStatus::kFailed;
  }
}

void UnlockRobust(pthread_mutex_t* mutex) { pthread_mutex_unlock(mutex); }

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  return kill(pid, 0) == 0 || errno == EPERM;
}

uint64_t NowMs() {
  struct timespec ts;
  // The coarse clock (a few ms resolution) costs a quarter of the precise one
  // and runs on every lookup; expiry needs no finer grain.
#ifdef CLOCK_REALTIME_COARSE
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
#else
  clock_gettime(CLOCK_REALTIME, &ts);
#endif
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace tlsshm
