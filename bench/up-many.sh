#!/usr/bin/env bash
# Benchmark: `vmctl up` of a VMFile of three VMs (the test guest, one
# provision step each, so `up` returns once each answers over SSH), all at
# once (the default) against one after another (-j 1), in the same run,
# alternating. Prints both medians and their ratio. Goal: ratio <= 0.6.
#   usage: bench/up-many.sh [BUILD_DIR] [RUNS]      (default: build 1)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
runs=${2:-1}
vmctl=$(cd "$build" && pwd)/src/vmctl
guest=$("$top/tests/guest/build.sh")
work=$(mktemp -d /tmp/vmctl-bmany-XXXXXX)
export XDG_DATA_HOME=$work/data
trap '"$vmctl" down --destroy --file "$work/VMFile.kdl" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
ln -s "$guest" "$work/guest.qcow2"
for name in one two three; do
	cat <<KDL
vm "$name" {
    image "guest.qcow2"
    memory 512
    cloud-init {
        hostname "$name"
    }
    ssh {
        user "bench"
    }
    provision "shell" {
        inline "hostname"
    }
}
KDL
done >"$work/VMFile.kdl"

# Seconds `vmctl up "$@"` takes, the VMs destroyed after.
up_time() {
	local t0 t1
	t0=$(date +%s.%N)
	if ! "$vmctl" up --file "$work/VMFile.kdl" "$@" >"$work/out" 2>&1; then
		cat "$work/out" >&2
		exit 1
	fi
	t1=$(date +%s.%N)
	"$vmctl" down --destroy --file "$work/VMFile.kdl" >/dev/null 2>&1
	/usr/bin/python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" \
		"$t0" "$t1"
}

par_times=() seq_times=()
for i in $(seq 1 "$runs"); do
	par_times+=("$(up_time)")
	seq_times+=("$(up_time -j 1)")
done

/usr/bin/python3 - "${par_times[*]}" "${seq_times[*]}" <<'PY'
import statistics, sys
p = [float(x) for x in sys.argv[1].split()]
s = [float(x) for x in sys.argv[2].split()]
mp, ms = statistics.median(p), statistics.median(s)
print(f"vmctl up, 3 VMs at once:  median {mp:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in p)})")
print(f"vmctl up -j 1, in order:  median {ms:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in s)})")
print(f"ratio: {mp / ms:.3f} (goal <= 0.6): {'met' if mp / ms <= 0.6 else 'NOT met'}")
PY
