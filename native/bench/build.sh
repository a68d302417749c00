#!/usr/bin/env bash
# Builds the native benchmark (native/bench/bench.cc over the core) with
# optimisation and without sanitizers, into native/bench/out/bench, when it is
# missing or older than any source. Prints the binary's path on stdout.
# The same core sources, compiler and language level as native/test/run.sh;
# -O2 and no -g/sanitizers, as the addon is built (binding.gyp).
#
# Usage: bash native/bench/build.sh      (bench/native/run.js calls it)
# Knobs: CXX=g++
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
native="$(dirname "$here")"
out="$here/out"
bin="$out/bench"
CXX="${CXX:-g++}"
flags=(-std=c++17 -O2 -DNDEBUG -Wall -Wextra -pthread)

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "native bench: $CXX not found; install g++ to build it" >&2
  exit 2
fi

# The core is every native/*.cc but the Node binding, so a file added to the
# core (native/test/run.sh lists them too) is picked up here without an edit.
srcs=("$here/bench.cc")
for f in "$native"/*.cc; do [ "$(basename "$f")" = binding.cc ] || srcs+=("$f"); done
stale=0
[ -x "$bin" ] || stale=1
[ "$(cat "$bin.flags" 2>/dev/null)" = "$CXX ${flags[*]}" ] || stale=1
for f in "${srcs[@]}" "$native"/*.h; do
  [ "$f" -nt "$bin" ] && stale=1
done
if [ "$stale" -eq 1 ]; then
  mkdir -p "$out"
  "$CXX" "${flags[@]}" "${srcs[@]}" -o "$bin.tmp" -lrt
  mv "$bin.tmp" "$bin"
  echo "$CXX ${flags[*]}" >"$bin.flags"
fi
echo "$bin"
