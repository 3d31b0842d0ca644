#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/sftp.sh - upload throughput of vmctl's SFTP (libvmm over libssh)
# against OpenSSH scp, both to the same throwaway sshd on 127.0.0.1 with
# the same key. Prints both throughputs and the ratio (goal: >= 0.8).
#
#   bench/sftp.sh [BUILD_DIR]        (default: build; SIZE_MIB=256, RUNS=3)
set -eu

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
SSHD=${SSHD:-/usr/sbin/sshd}

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRCDIR" >/dev/null
ninja -C "$BUILD" lib/libvmm.a >/dev/null

T=$(mktemp -d "${TMPDIR:-/tmp}/vmctl-bench-sftp.XXXXXX")
SSHD_PID=
cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

# The bench program, linked against the build's static libvmm.
${CC:-cc} -O2 -D_GNU_SOURCE -I"$SRCDIR/include" -I"$SRCDIR/lib" -I"$BUILD" \
	-o "$T/sftp_upload" "$SRCDIR/bench/sftp_upload.c" "$BUILD/lib/libvmm.a" \
	$(pkg-config --libs libssh libcurl jansson libzstd liblzma zlib libisofs-1) -lpthread

ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/client_key"
cp "$T/client_key.pub" "$T/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
AuthorizedKeysFile $T/authorized_keys
PidFile $T/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
Subsystem sftp internal-sftp
CFG
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
"$SSHD" -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
SSHD_PID=$!
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$T/host_key.pub")" >"$T/known_hosts"
i=0
until ssh-keyscan -p "$PORT" 127.0.0.1 >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "sshd did not start" >&2; cat "$T/sshd.log" >&2; exit 1; }
	sleep 0.05
done

USER_NAME=$(id -un)
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$T/payload"
WANT=$(sha256sum <"$T/payload" | cut -d' ' -f1)
mkdir "$T/dest"

check() {
	got=$(sha256sum <"$1" | cut -d' ' -f1)
	[ "$got" = "$WANT" ] || { echo "checksum mismatch after $2" >&2; exit 1; }
	rm -f "$1"
}

# Both timed the same way: the whole client process, connect included.
n=0
: >"$T/times"
while [ $n -lt "$RUNS" ]; do
	n=$((n + 1))
	v0=$(date +%s.%N)
	"$T/sftp_upload" 127.0.0.1 "$PORT" "$USER_NAME" "$T/client_key" "$T/known_hosts" \
		"$T/payload" "$T/dest/vmm.bin" >/dev/null
	v1=$(date +%s.%N)
	check "$T/dest/vmm.bin" vmctl
	s0=$(date +%s.%N)
	scp -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i "$T/client_key" \
		-P "$PORT" "$T/payload" "$USER_NAME@127.0.0.1:$T/dest/scp.bin"
	s1=$(date +%s.%N)
	check "$T/dest/scp.bin" scp
	echo "$n $v0 $v1 $s0 $s1" >>"$T/times"
done
awk -v mib="$SIZE_MIB" '
{
	v = $3 - $2; s = $5 - $4
	printf "run %d: vmctl sftp %.2f s (%.0f MiB/s), scp %.2f s (%.0f MiB/s)\n", $1, v, mib / v, s, mib / s
	if (NR == 1 || v < bv) bv = v
	if (NR == 1 || s < bs) bs = s
}
END {
	printf "best of %d, %d MiB: vmctl sftp %.0f MiB/s, OpenSSH scp %.0f MiB/s, ratio %.2f (goal >= 0.80)\n", NR, mib, mib / bv, mib / bs, bs / bv
}' "$T/times"
