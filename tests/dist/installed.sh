#!/bin/sh
# check-dist, step 2 (in a second pristine Debian 12 chroot): the packages
# of step 1, installed the way a user does, work outside the build tree.
#
#   tests/dist/installed.sh DEBDIR
#
# 1. `apt-get install ./vmctl_*.deb ./libvmm0_*.deb` (no recommends) pulls in
#    every run-time dependency: QEMU, qemu-img and ssh are there after it.
# 2. The installed vmctl brings the demo VMFile's VM up (the test guest),
#    provisions it, runs a command in it over SSH and destroys it.
# 3. A C program built with `pkg-config --cflags --libs vmm` against the
#    installed libvmm-dev links and runs.
set -eu
debs=$1
say() { printf '\n==> %s\n' "$*"; }
fail() { echo "installed.sh: FAIL: $*" >&2; exit 1; }
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

say "apt-get install ./vmctl_*.deb ./libvmm0_*.deb"
apt-get update -qq
for t in vmctl qemu-system-x86_64 qemu-img ssh; do
	! command -v "$t" >/dev/null 2>&1 || fail "$t is already installed before the packages are"
done
mkdir -p /tmp/debs
cp "$debs"/vmctl_*.deb "$debs"/libvmm0_*.deb "$debs"/libvmm-dev_*.deb /tmp/debs/
(cd /tmp/debs && apt_install ./vmctl_*.deb ./libvmm0_*.deb)
for t in vmctl qemu-system-x86_64 qemu-img ssh; do
	command -v "$t" >/dev/null 2>&1 || fail "$t is missing after installing the packages"
done
[ -x /usr/libexec/vmctl-full ] || fail "/usr/libexec/vmctl-full is not installed"
for f in /usr/share/man/man1/vmctl.1.gz /usr/share/man/man5/vmfile.5.gz \
	/usr/share/bash-completion/completions/vmctl /usr/share/zsh/vendor-completions/_vmctl; do
	[ -f "$f" ] || fail "$f is not installed"
done
vmctl version

say "the test guest (its build tools are test dependencies, installed now)"
apt_install $(sed -n '/^# test guest/,/^#/{/^#/d;/^$/d;p}' tools/deps.txt) \
	kmod ca-certificates
guest=$(tests/guest/build.sh)

say "the installed vmctl: up, list, ssh, down --destroy of examples/demo"
demo=$(mktemp -d /tmp/demo.XXXXXX)
cp examples/demo/* "$demo/"
ln -s "$guest" "$demo/guest.qcow2"
XDG_DATA_HOME=$(mktemp -d /tmp/data.XXXXXX)
export XDG_DATA_HOME
cd "$demo"
trap 'vmctl down --destroy >/dev/null 2>&1 || true' EXIT
if ! vmctl up; then
	echo "--- the guest's console:" >&2
	vmctl log demo --console >&2 || true
	fail "vmctl up of the demo VMFile failed"
fi
vmctl list | tee /tmp/list.txt
grep -q '^demo ' /tmp/list.txt || fail "vmctl list does not show the demo VM"
out=$(vmctl ssh demo -- cat /tmp/motd.txt /etc/vmctl-demo)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -qF "$(head -n 1 motd.txt)" || fail "the provisioned file is not in the guest"
vmctl down --destroy
trap - EXIT
[ "$(vmctl list --json)" = "[]" ] ||
	fail "the demo VM is still listed after down --destroy"
cd - >/dev/null

say "libvmm-dev: a program built with pkg-config --cflags --libs vmm"
(cd /tmp/debs && apt_install ./libvmm-dev_*.deb gcc libc6-dev pkg-config)
cat >/tmp/p.c <<'C'
#include <stdio.h>
#include <vmm/vmm.h>

int main(void)
{
	struct vmm_error err;

	if (vmm_vm_name_validate("bad/name", &err) < 0)
		printf("%s\n", vmm_errcode_name(err.code));
	return 0;
}
C
# shellcheck disable=SC2046
gcc -Wall -Wextra -Werror /tmp/p.c -o /tmp/p $(pkg-config --cflags --libs vmm)
# (/lib is /usr/lib on Debian 12; ld.so's cache may name either)
ldd /tmp/p | tee /tmp/ldd.txt | grep -E 'libvmm\.so\.0 => (/usr)?/lib/x86_64-linux-gnu/libvmm\.so\.0 ' ||
	{ cat /tmp/ldd.txt; fail "the program is not linked to the installed libvmm.so.0"; }
[ "$(/tmp/p)" = "vm_manager::vm::invalid_name" ] || fail "the program printed '$(/tmp/p)'"
echo "libvmm-dev: linked and ran: $(/tmp/p)"
echo "installed packages: all checks passed"
