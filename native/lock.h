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
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>

namespace tlsshm {

// Initialises a robust, process-shared mutex in shared memory. Returns 0 or errno.
int InitRobustMutex(pthread_mutex_t* mutex);

enum class LockStatus { kLocked, kRecovered, kTimedOut, kFailed };

// Locks `mutex`, waiting at most `timeout_ms`. If the previous owner died,
// calls `recover(context)` while holding the lock, marks the mutex consistent
// and returns kRecovered. On kTimedOut and kFailed the mutex is not held.
LockStatus LockRobust(pthread_mutex_t* mutex, uint32_t timeout_ms,
                      void (*recover)(void*), void* context);

void UnlockRobust(pthread_mutex_t* mutex);

// True if a process with this pid exists (it may belong to another user).
bool ProcessAlive(pid_t pid);

// Wall-clock milliseconds. The wall clock, not a monotonic one, because a
// file-backed segment outlives reboots, where monotonic clocks restart.
uint64_t NowMs();
uint64_t MonotonicNs();

}  // namespace tlsshm
