#!/usr/bin/env bash
# Builds the native tests with sanitizers into native/test/out/ and runs them:
#   unit + stress (threads, killed processes) + seeded fuzz driver under
#   AddressSanitizer + UndefinedBehaviorSanitizer (g++), stress (threads) under
#   ThreadSanitizer (g++), and a bounded libFuzzer run when clang++ can build one.
# Exits non-zero if any step fails; prints a summary table at the end.
#
# Usage: bash native/test/run.sh          (npm run test:native; test/native.test.ts)
# Knobs (environment):
#   CXX=g++  CLANGXX=clang++   compilers (no clang++: the libFuzzer step is skipped)
#   NATIVE_TEST_JOBS=2         parallel compiles
#   FUZZ_SEED=1                seed of the g++ fuzz driver (same seed = same inputs)
#   FUZZ_ITERATIONS=20000      inputs the g++ fuzz driver feeds
#   LIBFUZZER_SECONDS=10 LIBFUZZER_RUNS=100000   bounds of the libFuzzer smoke run
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
native="$(dirname "$here")"
out="$here/out"
mkdir -p "$out"

CXX="${CXX:-g++}"
CLANGXX="${CLANGXX:-clang++}"
JOBS="${NATIVE_TEST_JOBS:-2}"
FUZZ_SEED="${FUZZ_SEED:-1}"
FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-20000}"
LIBFUZZER_SECONDS="${LIBFUZZER_SECONDS:-10}"
LIBFUZZER_RUNS="${LIBFUZZER_RUNS:-100000}"

core=(cache lock outbox segment siphash slots)
headers=("$native"/*.h "$here"/*.h)

# TLSSHM_TEST_HOOKS: the preemption points of testhook.h (empty in the addon).
common=(-std=c++17 -g -O1 -Wall -Wextra -fno-omit-frame-pointer -pthread -DTLSSHM_TEST_HOOKS)
asan=(-fsanitize=address,undefined -fno-sanitize-recover=all)
# TSan does not model standalone fences; every shared access is an __atomic
# builtin (atomics.h), so its race reports stay exact without them.
tsan=(-fsanitize=thread -Wno-tsan)

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1}"

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "native tests: $CXX not found; install g++ to build them" >&2
  exit 2
fi

# ---- building -------------------------------------------------------------------

# True when $1 is missing, older than any of the other files, or was built
# with other flags (kept in $1.flags).
stale() {
  local target="$1" flags="$2"
  shift 2
  [ -f "$target" ] || return 0
  [ "$(cat "$target.flags" 2>/dev/null)" = "$flags" ] || return 0
  local f
  for f in "$@" "${headers[@]}"; do
    [ "$f" -nt "$target" ] && return 0
  done
  return 1
}

build_failed=0
pending=0

# compile OBJ SRC FLAGS...  (in the background, at most $JOBS at once)
compile() {
  local obj="$1" src="$2"
  shift 2
  local flags="$*"
  stale "$obj" "$flags" "$src" || return 0
  if [ "$pending" -ge "$JOBS" ]; then
    wait -n || build_failed=1
    pending=$((pending - 1))
  fi
  (
    if "$@" -c "$src" -o "$obj" 2>"$obj.log"; then
      echo "$flags" >"$obj.flags"
    else
      echo "---- compiling $(basename "$src") for $(basename "$obj") failed:" >&2
      cat "$obj.log" >&2
      rm -f "$obj"
      exit 1
    fi
  ) &
  pending=$((pending + 1))
}

finish_compiles() {
  while [ "$pending" -gt 0 ]; do
    wait -n || build_failed=1
    pending=$((pending - 1))
  done
}

# link BIN FLAGS -- OBJS...
link() {
  local bin="$1"
  shift
  local flags=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  stale "$bin" "${flags[*]}" "$@" || return 0
  for o in "$@"; do [ -f "$o" ] || { build_failed=1; return 1; }; done
  if "${flags[@]}" "$@" -o "$bin" 2>"$bin.log"; then
    echo "${flags[*]}" >"$bin.flags"
  else
    echo "---- linking $(basename "$bin") failed:" >&2
    cat "$bin.log" >&2
    rm -f "$bin"
    build_failed=1
  fi
}

build_started=$SECONDS
mkdir -p "$out/asan" "$out/tsan"
for c in "${core[@]}"; do
  compile "$out/asan/$c.o" "$native/$c.cc" "$CXX" "${common[@]}" "${asan[@]}"
  compile "$out/tsan/$c.o" "$native/$c.cc" "$CXX" "${common[@]}" "${tsan[@]}"
done
compile "$out/asan/unit.o" "$here/unit.cc" "$CXX" "${common[@]}" "${asan[@]}"
compile "$out/asan/stress.o" "$here/stress.cc" "$CXX" "${common[@]}" "${asan[@]}"
compile "$out/asan/fuzz-driver.o" "$here/fuzz.cc" "$CXX" "${common[@]}" "${asan[@]}" -DTLSSHM_FUZZ_DRIVER
compile "$out/tsan/stress.o" "$here/stress.cc" "$CXX" "${common[@]}" "${tsan[@]}"
finish_compiles

asan_core=()
tsan_core=()
for c in "${core[@]}"; do
  asan_core+=("$out/asan/$c.o")
  tsan_core+=("$out/tsan/$c.o")
done
link "$out/unit-asan" "$CXX" "${common[@]}" "${asan[@]}" -- "$out/asan/unit.o" "${asan_core[@]}"
link "$out/stress-asan" "$CXX" "${common[@]}" "${asan[@]}" -- "$out/asan/stress.o" "${asan_core[@]}"
link "$out/fuzz-driver-asan" "$CXX" "${common[@]}" "${asan[@]}" -- "$out/asan/fuzz-driver.o" "${asan_core[@]}"
link "$out/stress-tsan" "$CXX" "${common[@]}" "${tsan[@]}" -- "$out/tsan/stress.o" "${tsan_core[@]}"

# libFuzzer: only with a clang++ whose runtime is installed (libclang-rt-*-dev);
# a missing runtime is reported, not a failure.
libfuzzer_note=""
libfuzzer_ready=0
if command -v "$CLANGXX" >/dev/null 2>&1; then
  fuzz_srcs=("$here/fuzz.cc")
  for c in "${core[@]}"; do fuzz_srcs+=("$native/$c.cc"); done
  fuzz_flags=(-std=c++17 -g -O1 -Wall -Wextra -pthread -DTLSSHM_TEST_HOOKS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  if stale "$out/fuzz-libfuzzer" "${fuzz_flags[*]}" "${fuzz_srcs[@]}"; then
    if "$CLANGXX" "${fuzz_flags[@]}" "${fuzz_srcs[@]}" -o "$out/fuzz-libfuzzer" 2>"$out/fuzz-libfuzzer.log"; then
      echo "${fuzz_flags[*]}" >"$out/fuzz-libfuzzer.flags"
    else
      rm -f "$out/fuzz-libfuzzer"
      if grep -q -i -E "libclang_rt|fuzzer.*(not found|no such)|cannot find" "$out/fuzz-libfuzzer.log"; then
        libfuzzer_note="skipped: $CLANGXX has no libFuzzer runtime (install libclang-rt-*-dev)"
      else
        echo "---- building the libFuzzer target failed:" >&2
        cat "$out/fuzz-libfuzzer.log" >&2
        build_failed=1
      fi
    fi
  fi
  [ -x "$out/fuzz-libfuzzer" ] && libfuzzer_ready=1
else
  libfuzzer_note="skipped: $CLANGXX not found (the g++ fuzz driver ran instead)"
fi
build_seconds=$((SECONDS - build_started))

if [ "$build_failed" -ne 0 ]; then
  echo "native tests: BUILD FAILED (see above)" >&2
  exit 1
fi

# ---- running ----------------------------------------------------------------------

summary=()
failed=0

# step NAME COMMAND...  runs it with a time bound, logs to out/<name>.log, and
# prints the log's last lines (the last 80 on failure).
step() {
  local name="$1"
  shift
  local started=$SECONDS rc
  local log="$out/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-' | sed 's/-$//').log"
  timeout --kill-after=10 300 "$@" >"$log" 2>&1
  rc=$?
  local took=$((SECONDS - started))
  if [ "$rc" -eq 0 ]; then
    summary+=("$(printf '  ok    %-34s %4ss' "$name" "$took")")
    echo "== $name: ok (${took}s)"
    grep -v -E '^ok - ' "$log" | tail -n 6 | sed 's/^/   /'
  else
    summary+=("$(printf '  FAIL  %-34s %4ss  exit %s' "$name" "$took" "$rc")")
    failed=1
    echo "== $name: FAILED (exit $rc, ${took}s); log $log:"
    tail -n 80 "$log" | sed 's/^/   /'
  fi
}

# ThreadSanitizer maps its shadow at fixed addresses; with high mmap ASLR
# entropy (some 6.x kernels) it aborts with "unexpected memory mapping". Then
# run it without address randomisation (setarch -R), which an unprivileged
# process may do for itself.
tsan_prefix=()
probe="$(timeout 60 "$out/stress-tsan" probe 2>&1)"
if echo "$probe" | grep -q -E "unexpected memory mapping|ThreadSanitizer: (CHECK failed|failed to)"; then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    tsan_prefix=(setarch "$(uname -m)" -R)
    echo "(ThreadSanitizer needs ASLR off on this kernel: running it under setarch -R)"
  fi
fi

step "unit (asan+ubsan)" "$out/unit-asan"
step "stress threads (asan+ubsan)" "$out/stress-asan" threads 10
step "stress processes (asan+ubsan)" "$out/stress-asan" processes 3
step "stress threads (tsan)" "${tsan_prefix[@]}" "$out/stress-tsan" threads 5
step "fuzz driver (asan+ubsan)" "$out/fuzz-driver-asan" "$FUZZ_ITERATIONS" "$FUZZ_SEED"
if [ "$libfuzzer_ready" -eq 1 ]; then
  mkdir -p "$out/corpus" "$out/artifacts"
  step "libFuzzer (asan+ubsan)" "$out/fuzz-libfuzzer" -runs="$LIBFUZZER_RUNS" \
    -max_total_time="$LIBFUZZER_SECONDS" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" "$out/corpus"
else
  summary+=("$(printf '  skip  %-34s        %s' "libFuzzer" "$libfuzzer_note")")
fi

echo
echo "native tests (build ${build_seconds}s):"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "native tests: FAILED"
  exit 1
fi
echo "native tests: all passed"
