// Cross-process locking that survives a process killed while holding a lock.
//
// The write lock is a robust, process-shared pthread mutex: when its owner dies
// (SIGKILL included) the kernel marks it, and the next locker gets EOWNERDEAD
// instead of waiting forever. That locker must repair what the dead writer may
// have left half done before it marks the mutex consistent again; WriteGuard
// hands that job to a callback so the repair lives next to the data it repairs.
//
// A writer that is alive but stopped (SIGSTOP, a debugger) still holds the lock;
// lockers give up after a bounded wait instead of blocking the event loop.
// Waits are measured on CLOCK_MONOTONIC, so a step of the wall clock neither
// stretches nor cuts them: the waiter polls with trylock and sleeps on the
// monotonic clock. (pthread_mutex_clocklock would do it in one call, but it
// needs glibc 2.30 and prebuilds must load on glibc 2.28.)
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>

namespace tlsshm {

// Initialises a robust, process-shared mutex in shared memory. Returns 0 or errno.
int InitRobustMutex(pthread_mutex_t* mutex);

// kBusy: timed out, but the holder showed progress meanwhile (`*progress`
// moved): it is working, not stuck.
enum class LockStatus { kLocked, kRecovered, kTimedOut, kBusy, kFailed };

// Locks `mutex`, waiting at most `timeout_ms` (0: one attempt). If the previous
// owner died, calls `recover(context)` while holding the lock, marks the mutex
// consistent and returns kRecovered. On kTimedOut, kBusy and kFailed the mutex
// is not held. `progress` (may be null) is a counter the holder bumps while
// it works.
LockStatus LockRobust(pthread_mutex_t* mutex, uint32_t timeout_ms, const uint64_t* progress,
                      void (*recover)(void*), void* context);

void UnlockRobust(pthread_mutex_t* mutex);

// True if a process with this pid exists (it may belong to another user).
bool ProcessAlive(pid_t pid);

// Wall-clock milliseconds. The wall clock, not a monotonic one, because a
// file-backed segment outlives reboots, where monotonic clocks restart.
uint64_t NowMs();
uint64_t MonotonicNs();

}  // namespace tlsshm
