#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/kdl.sh - KDL parser throughput (MB/s) and peak memory relative to the
# document size, on a generated multi-MB document (see bench/kdl_bench.c).
#
#   bench/kdl.sh [BUILD_DIR]        (default: build; SIZE_MB=8, RUNS=5)
set -eu

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
SIZE_MB=${SIZE_MB:-8}
RUNS=${RUNS:-5}

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRCDIR" >/dev/null
ninja -C "$BUILD" lib/libvmm.a >/dev/null

T=$(mktemp -d "${TMPDIR:-/tmp}/vmctl-bench-kdl.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

# Linked against the build's static libvmm; malloc & co. wrapped to measure
# the heap (see the program's header).
${CC:-cc} -O2 -D_GNU_SOURCE -I"$SRCDIR/include" -I"$SRCDIR/lib" -I"$BUILD" \
	-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free \
	-o "$T/kdl_bench" "$SRCDIR/bench/kdl_bench.c" "$BUILD/lib/libvmm.a" \
	$(pkg-config --libs libssh libcurl jansson libzstd liblzma zlib libisofs-1) -lpthread -lm

echo "KDL parser benchmark (build: $(basename "$BUILD"))"
"$T/kdl_bench" "$SIZE_MB" "$RUNS"
