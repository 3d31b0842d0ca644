#!/usr/bin/env bash
# Benchmark: `vmctl list` with 1,000 registered VMs against /bin/true, both
# timed by hyperfine in the same run. Prints both medians and their ratio.
# Goal: ratio <= 10.
#   usage: bench/list.sh [BUILD_DIR]     (default: build)
set -euo pipefail
build=${1:-build}
vmctl=$(cd "$build" && pwd)/src/vmctl
work=$(mktemp -d /tmp/vmctl-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_DATA_HOME=$work/data VMCTL_BACKEND=noop
: >"$work/base.img"

echo "registering 1000 VMs (noop backend)..."
for i in $(seq -w 1 1000); do
	"$vmctl" create --name "vm$i" --image "$work/base.img" >/dev/null
done
test "$("$vmctl" list | wc -l)" -eq 1001

hyperfine --warmup 5 --runs 50 -N --export-json "$work/h.json" \
	"$vmctl list" "/bin/true" >/dev/null
/usr/bin/python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"].split("/")[-1]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
lst, true = r["vmctl list"], r["true"]
ratio = lst / true
print(f"vmctl list (1000 VMs): median {lst * 1000:.2f} ms")
print(f"/bin/true:             median {true * 1000:.2f} ms")
print(f"ratio: {ratio:.1f}x (goal <= 10x): {'met' if ratio <= 10 else 'NOT met'}")
PY
