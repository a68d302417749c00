// Preemption points for the native tests, compiled only into their build.
//
// TLSSHM_TEST_HOOK("name") marks a point between two steps of a protocol
// (a seqlock write, a rebuild, a lock wait) where another process could be
// scheduled. run.sh builds the core with -DTLSSHM_TEST_HOOKS, and a test sets
// tlsshm::test_hook to a function that, at a chosen point, lets another thread
// run an interleaving that real schedulers produce only rarely (or, on arm64,
// through store reordering). In the addon build the macro is empty: no
// variable, no call, no branch.
#pragma once

#ifdef TLSSHM_TEST_HOOKS
namespace tlsshm {
// Called with the point's name; nullptr (the default) does nothing.
extern void (*volatile test_hook)(const char* point);
}  // namespace tlsshm
#define TLSSHM_TEST_HOOK(point)                                         \
  do {                                                                  \
    if (::tlsshm::test_hook != nullptr) ::tlsshm::test_hook(point);     \
  } while (0)
#else
#define TLSSHM_TEST_HOOK(point) \
  do {                          \
  } while (0)
#endif
