#!/usr/bin/env bash
# Benchmark: how `vmctl validate` grows with the size of a VMFile. Times
# (hyperfine, same run) a VMFile of N VMs against one of 10*N, and a node
# with M properties against one with 10*M. Linear work gives a ratio near
# 10; work that compares every item with every other gives near 100.
# Goal: each ratio <= 20.
#   usage: bench/vmfile-scale.sh [BUILD_DIR]     (default: build)
set -euo pipefail
build=${1:-build}
vmctl=$(cd "$build" && pwd)/src/vmctl
work=$(mktemp -d /tmp/vmctl-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
for n in (10000, 100000):
    with open(f"{w}/vms-{n}.kdl", "w") as f:
        for i in range(n):
            f.write(f'vm "v{i}" {{ image-url "https://example.com/a.img"; }}\n')
for m in (10000, 100000):
    with open(f"{w}/props-{m}.kdl", "w") as f:
        # a node with m distinct properties: the schema refuses the unknown
        # node once (validate exits 1), after the parser has taken them all
        f.write('vm "a" {\n    image-url "https://example.com/a.img"\n}\n')
        f.write("extra " + " ".join(f"p{i}=1" for i in range(m)) + "\n")
PY

hyperfine --warmup 1 --runs 5 -N -i --export-json "$work/h.json" \
	"$vmctl validate --file $work/vms-10000.kdl" \
	"$vmctl validate --file $work/vms-100000.kdl" \
	"$vmctl validate --file $work/props-10000.kdl" \
	"$vmctl validate --file $work/props-100000.kdl" >/dev/null
/usr/bin/python3 - "$work/h.json" <<'PY'
import json, sys
r = [x["median"] for x in json.load(open(sys.argv[1]))["results"]]
ok = True
for what, small, big in (("VMs", r[0], r[1]), ("properties", r[2], r[3])):
    ratio = big / small
    ok &= ratio <= 20
    print(f"{what:10}: 10k {small * 1000:7.1f} ms, 100k {big * 1000:7.1f} ms, "
          f"ratio {ratio:.1f} (goal <= 20; linear ~10, quadratic ~100)")
print("goal met" if ok else "goal NOT met")
PY
