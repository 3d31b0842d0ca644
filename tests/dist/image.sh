#!/usr/bin/env bash
# check-dist, step 3 (on this host, as root): the container image.
#
#   tests/dist/image.sh SRCDIR GUEST
#
# Builds the image with `make image` from SRCDIR (a clean clone of HEAD),
# then, with the VM state in a named volume: `vmctl up` of the demo VMFile
# (GUEST is the test guest's qcow2) in one container, `vmctl list` in a
# second one must show the VM, `vmctl down --destroy` in a third. Prints the
# image size.
#
# No registry is reachable here, so the debian:bookworm base is built with
# debootstrap and imported (cached). The engine settings this sandbox needs
# (runc, cgroupfs, no ulimits) live in a containers.conf of this test only.
set -euo pipefail
src=$1
guest=$2
image=localhost/vmctl-check-dist
cache=${CHECK_DIST_CACHE:-/var/cache/vmctl-check-dist}
say() { printf '\n==> %s\n' "$*"; }
fail() { echo "image.sh: FAIL: $*" >&2; exit 1; }

command -v podman >/dev/null 2>&1 || fail "podman is not installed (apt-get install podman runc)"
command -v runc >/dev/null 2>&1 || fail "runc is not installed (apt-get install runc)"
work=$(mktemp -d /tmp/check-dist-image.XXXXXX)
vol=vmctl-check-dist-$$
built=()  # the images this run made (the final one, the build stage's)
cleanup() {
	podman volume rm -f "$vol" >/dev/null 2>&1 || true
	[ "${#built[@]}" -eq 0 ] || podman rmi -f "${built[@]}" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
export CONTAINERS_CONF=$work/containers.conf

say "the debian:bookworm base image"
if ! podman image exists docker.io/library/debian:bookworm; then
	mkdir -p "$cache"
	if [ ! -s "$cache/debian-bookworm.tar" ]; then
		rm -rf "$cache/base.tmp"
		debootstrap --variant=minbase bookworm "$cache/base.tmp" \
			"${CHECK_FRESH_MIRROR:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1 ||
			{ tail -n 20 "$cache/debootstrap.log" >&2; fail "debootstrap of the base failed"; }
		chroot "$cache/base.tmp" apt-get clean
		rm -rf "$cache"/base.tmp/var/lib/apt/lists/*
		tar --numeric-owner -C "$cache/base.tmp" -cf "$cache/debian-bookworm.tar.part" .
		mv "$cache/debian-bookworm.tar.part" "$cache/debian-bookworm.tar"
		rm -rf --one-file-system "$cache/base.tmp"
	fi
	podman import -q "$cache/debian-bookworm.tar" localhost/debian:bookworm >/dev/null
	podman tag localhost/debian:bookworm docker.io/library/debian:bookworm
fi
echo "docker.io/library/debian:bookworm: $(podman image inspect -f '{{.Id}}' docker.io/library/debian:bookworm | cut -c1-12)"

say "make image"
t0=$(date +%s)
before=$(podman images -q --filter dangling=true | sort -u)
make -C "$src" --no-print-directory image IMAGE="$image"
mapfile -t built < <(podman images -q --filter dangling=true | sort -u | comm -13 <(printf '%s\n' "$before") -)
built+=("$image")
echo "image built in $(($(date +%s) - t0)) s"
size=$(podman image inspect -f '{{.Size}}' "$image")

say "the runtime stage has vmctl, QEMU, qemu-utils, openssh-client"
podman run --rm --entrypoint sh "$image" -c '
	set -e
	for t in vmctl qemu-system-x86_64 qemu-img ssh; do command -v "$t"; done
	test -x /usr/libexec/vmctl-full
	test "$(id -un)" = vmctl
	test "$XDG_DATA_HOME" = /data
	! command -v gcc && ! command -v meson && ! dpkg -s debhelper >/dev/null 2>&1
	echo "user $(id -un), XDG_DATA_HOME=$XDG_DATA_HOME"'

say "vmctl up in a container (state in the volume $vol), list in a second one"
demo=$work/demo
mkdir "$demo"
cp "$src"/examples/demo/* "$demo/"
cp "$guest" "$demo/guest.qcow2"
chmod -R a+rX "$work"
podman volume create "$vol" >/dev/null
kvm=()
[ ! -e /dev/kvm ] || kvm=(--device /dev/kvm)
podman run --rm "${kvm[@]}" -v "$vol":/data -v "$demo":/work -w /work "$image" up
podman run --rm -v "$vol":/data "$image" list | tee "$work/list.txt"
grep -q '^demo ' "$work/list.txt" || fail "vmctl list in a second container does not show the demo VM"
podman run --rm -v "$vol":/data -v "$demo":/work -w /work "$image" down --destroy
[ "$(podman run --rm -v "$vol":/data "$image" list --json)" = "[]" ] ||
	fail "the demo VM is still listed after down --destroy"

say "image size"
echo "$image: $((size / 1000000)) MB ($size bytes)"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | cut -c1-110
