#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/image.sh - download + decompress of a zstd disk image (>= 1 GiB
# uncompressed) from a loopback HTTP server: `vmctl image pull` against
# `curl -s URL | zstd -d > file`, in the same run, from the same server.
# Prints both times, the ratio (goal: <= 1.1) and vmctl's peak RSS (goal:
# <= 32 MiB, from /usr/bin/time -v).
#
# vmctl also hashes (sha256) what it downloads and fsyncs the image before
# it enters the cache; the pipeline does neither. The pipeline followed by
# a `sync` of its output is printed too, for a like-for-like durability
# comparison.
#
#   bench/image.sh [BUILD_DIR]    (default: build; SIZE_MIB=1024, RUNS=3;
#                                  VMCTL=path: a vmctl binary to use instead)
set -eu

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
PY=${PYTHON:-/usr/bin/python3}

if [ -z "${VMCTL:-}" ]; then
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRCDIR" >/dev/null
	ninja -C "$BUILD" src/vmctl src/vmctl-full >/dev/null
	VMCTL=$BUILD/src/vmctl
fi

T=$(mktemp -d "${TMPDIR:-/var/tmp}/vmctl-bench-image.XXXXXX")
SRV_PID=
cleanup() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
mkdir -p "$T/srv"

# The image: real file-system content (the system's own libraries and
# data, as a disk image holds), interleaved with runs of zeros (free space),
# SIZE_MIB MiB in all. Compressible, but not trivially.
echo "generating a ${SIZE_MIB} MiB image..." >&2
"$PY" - "$T/srv/disk.raw" "$SIZE_MIB" <<'EOF'
import os, sys, tarfile, io
out, mib = sys.argv[1], int(sys.argv[2])
size = mib << 20
chunk = 4 << 20
with open(out, "wb") as f:
    written = 0
    n = 0
    def files():
        while True:
            for top in ("/usr/lib", "/usr/share", "/usr/bin"):
                for d, _, names in os.walk(top):
                    for nm in sorted(names):
                        p = os.path.join(d, nm)
                        if os.path.isfile(p) and not os.path.islink(p):
                            yield p
    src = files()
    buf = bytearray()
    while written < size:
        n += 1
        if n % 5 == 0:  # one chunk in five: free space
            data = b"\0" * chunk
        else:
            while len(buf) < chunk:
                try:
                    with open(next(src), "rb") as g:
                        buf += g.read(chunk)
                except OSError:
                    pass
            data, buf = bytes(buf[:chunk]), buf[chunk:]
        data = data[: size - written]
        f.write(data)
        written += len(data)
EOF
zstd -q -T0 -3 "$T/srv/disk.raw" -o "$T/srv/disk.raw.zst"
RAW_SHA=$(sha256sum "$T/srv/disk.raw" | cut -d' ' -f1)
rm -f "$T/srv/disk.raw"
ZST_BYTES=$(stat -c %s "$T/srv/disk.raw.zst")
cat "$T/srv/disk.raw.zst" >/dev/null # both start from a warm page cache

"$PY" "$SRCDIR/tests/lib/httpserver.py" --dir "$T/srv" >"$T/port" &
SRV_PID=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL="http://127.0.0.1:$(cat "$T/port")/disk.raw.zst"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
best() { tr ' ' '\n' | grep . | sort -g | head -1; }

CURL_T= ; SYNC_T= ; VM_T= ; RSS_KB=0
r=0
while [ $r -lt "$RUNS" ]; do
	r=$((r + 1))
	rm -f "$T/out.raw"
	t0=$(now)
	curl -s "$URL" | zstd -d -q >"$T/out.raw"
	t1=$(now)
	sync "$T/out.raw"
	t2=$(now)
	CURL_T="$CURL_T $(calc "$t1 - $t0")"
	SYNC_T="$SYNC_T $(calc "$t2 - $t0")"
	rm -f "$T/out.raw"

	rm -rf "$T/xdg"
	t0=$(now)
	XDG_DATA_HOME=$T/xdg /usr/bin/time -v -o "$T/time.txt" "$VMCTL" image pull -q "$URL" \
		>"$T/path"
	t1=$(now)
	VM_T="$VM_T $(calc "$t1 - $t0")"
	kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/time.txt")
	[ "$kb" -gt "$RSS_KB" ] && RSS_KB=$kb
	if [ $r -eq 1 ]; then
		got=$(sha256sum "$(cat "$T/path")" | cut -d' ' -f1)
		[ "$got" = "$RAW_SHA" ] || { echo "vmctl's image differs from the original" >&2; exit 1; }
	fi
done
rm -rf "$T/xdg"

C=$(echo "$CURL_T" | best)
S=$(echo "$SYNC_T" | best)
V=$(echo "$VM_T" | best)
printf 'image: %d MiB raw, %.1f MiB zstd (ratio %.2f), best of %d runs\n' "$SIZE_MIB" \
	"$(calc "$ZST_BYTES / 1048576")" "$(calc "$SIZE_MIB * 1048576 / $ZST_BYTES")" \
	"$RUNS"
printf 'curl -s URL | zstd -d > file        %7.2f s\n' "$C"
printf 'curl -s URL | zstd -d > file; sync  %7.2f s\n' "$S"
printf 'vmctl image pull (sha256 + fsync)    %7.2f s\n' "$V"
printf 'ratio vmctl / pipeline              %7.2f   (goal <= 1.1)\n' "$(calc "$V / $C")"
printf 'ratio vmctl / pipeline + sync       %7.2f\n' "$(calc "$V / $S")"
printf 'vmctl peak RSS                      %7.1f MiB (goal <= 32)\n' "$(calc "$RSS_KB / 1024")"
