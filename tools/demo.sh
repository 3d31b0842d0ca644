#!/usr/bin/env bash
# `make demo`: bring a real VM up from examples/demo/VMFile.kdl, provision it,
# run commands in it over SSH, and tear it down, printing what happens.
# The VM's state lives in a temporary XDG_DATA_HOME that is removed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
vmctl=${VMCTL_BIN:-$top/build/src/vmctl}
demo=$top/examples/demo

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "building the test guest (cached after the first build)"
guest=$("$top/tests/guest/build.sh")
ln -sf "$guest" "$demo/guest.qcow2"

XDG_DATA_HOME=$(mktemp -d /tmp/vmctl-demo-XXXXXX)
export XDG_DATA_HOME
cleanup() {
	"$vmctl" down --file "$demo/VMFile.kdl" --destroy >/dev/null 2>&1 || true
	rm -rf "$XDG_DATA_HOME" "$demo/guest.qcow2"
}
trap cleanup EXIT

cd "$demo"
say "vmctl validate"
"$vmctl" validate
say "vmctl up   (create, boot, wait for SSH, provision)"
"$vmctl" up
say "vmctl list"
"$vmctl" list
say "vmctl ssh demo -- ...   (a command in the guest, host key verified)"
"$vmctl" ssh demo -- 'echo "I am $(id -un) on $(hostname)"; cat /tmp/motd.txt; cat /etc/vmctl-demo'
say "vmctl log demo --provision --tail 5"
"$vmctl" log demo --provision --tail 5
say "vmctl down --destroy"
"$vmctl" down --destroy
"$vmctl" list
say "demo finished"
