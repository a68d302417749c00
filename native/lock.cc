#include "lock.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

namespace tlsshm {

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

LockStatus LockRobust(pthread_mutex_t* mutex, uint32_t timeout_ms,
                      void (*recover)(void*), void* context) {
  // Fast path: most locks are uncontended.
  int rc = pthread_mutex_trylock(mutex);
  if (rc == EBUSY) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += long(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000L;
    }
    do {
      rc = pthread_mutex_timedlock(mutex, &deadline);
    } while (rc == EINTR);
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
      return LockStatus::kTimedOut;
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
