#!/usr/bin/env bash
# Benchmark: time from `vmctl start` to the SSH banner for a VM whose state
# is saved (`vmctl stop --save`) against a cold `vmctl start` of the same VM,
# in the same run. Each cold run boots the guest to its banner, then saves
# it: the next saved run restores that state. Prints both medians and their
# ratio. Goal: ratio <= 0.15 for the test guest.
#   usage: bench/resume.sh [BUILD_DIR] [RUNS] [IMAGE] [MEMORY_MB]
#          (default: build 3, the test guest, 256)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
runs=${2:-3}
image=${3:-$("$top/tests/guest/build.sh")}
memory=${4:-256}
vmctl=$(cd "$build" && pwd)/src/vmctl
work=$(mktemp -d /tmp/vmctl-bres-XXXXXX)
export XDG_DATA_HOME=$work/data
export VMCTL_ACCEL=${VMCTL_ACCEL:-tcg}
trap '"$vmctl" destroy bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# Seconds from $1 (epoch, fractional) until an SSH banner on port $2.
banner_after() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys, time
t0, port = float(sys.argv[1]), int(sys.argv[2])
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(2)
            if s.recv(4).startswith(b"SSH-"):
                break
    except OSError:
        pass
    if time.time() - t0 > 600:
        sys.exit("no SSH banner within 600 s")
    time.sleep(0.05)
print(f"{time.time() - t0:.3f}")
PY
}

port_of() {
	"$vmctl" status bench --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ssh_port"])'
}

"$vmctl" create --name bench --image "$image" --memory "$memory" >/dev/null 2>&1
cold_times=() saved_times=() sizes=()
for i in $(seq 1 "$runs"); do
	# cold: boot to the banner, then save the running guest
	t0=$(date +%s.%N)
	"$vmctl" start --cold bench >/dev/null 2>&1
	cold_times+=("$(banner_after "$t0" "$(port_of)")")
	"$vmctl" stop --save bench >/dev/null
	sizes+=("$(stat -c %s "$XDG_DATA_HOME/vmctl/vms/bench/saved.state")")

	# saved: restore to the banner
	t0=$(date +%s.%N)
	out=$("$vmctl" start bench 2>&1)
	case $out in *"Restored VM"*) ;; *) echo "not restored: $out" >&2; exit 1 ;; esac
	saved_times+=("$(banner_after "$t0" "$(port_of)")")
	"$vmctl" stop --timeout 10 bench >/dev/null 2>&1
done

/usr/bin/python3 - "${saved_times[*]}" "${cold_times[*]}" "${sizes[*]}" "$memory" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
c = [float(x) for x in sys.argv[2].split()]
size = statistics.median(int(x) for x in sys.argv[3].split())
ms, mc = statistics.median(s), statistics.median(c)
print(f"guest memory {sys.argv[4]} MB, saved state {size / 2**20:.0f} MiB")
print(f"saved vmctl start to SSH: median {ms:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in s)})")
print(f"cold vmctl start to SSH:  median {mc:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in c)})")
print(f"ratio: {ms / mc:.3f} (goal <= 0.15): {'met' if ms / mc <= 0.15 else 'NOT met'}")
PY
