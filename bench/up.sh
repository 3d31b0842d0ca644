#!/usr/bin/env bash
# Benchmark: time to SSH of `vmctl up --no-provision` against a bare
# qemu-system-x86_64 run of the same guest with the same arguments (taken
# from the QEMU that vmctl started) and the same tight SSH poll, in the
# same run. Prints both medians and their ratio. Goal: ratio <= 1.05.
#   usage: bench/up.sh [BUILD_DIR] [RUNS]      (default: build 3)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
runs=${2:-3}
vmctl=$(cd "$build" && pwd)/src/vmctl
guest=$("$top/tests/guest/build.sh")
work=$(mktemp -d /tmp/vmctl-bup-XXXXXX)
export XDG_DATA_HOME=$work/data
trap '"$vmctl" destroy bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
ln -s "$guest" "$work/guest.qcow2"
cat >"$work/VMFile.kdl" <<'KDL'
vm "bench" {
    image "guest.qcow2"
    memory 512
    cloud-init {
        hostname "bench"
    }
}
KDL

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

vm_times=() qemu_times=()
for i in $(seq 1 "$runs"); do
	# vmctl: from the command to the banner
	t0=$(date +%s.%N)
	"$vmctl" up --no-provision --file "$work/VMFile.kdl" >/dev/null 2>&1
	port=$("$vmctl" status bench --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ssh_port"])')
	vm_times+=("$(banner_after "$t0" "$port")")
	wd=$XDG_DATA_HOME/vmctl/vms/bench
	pid=$(cat "$wd/pidfile")
	mapfile -d '' args < "/proc/$pid/cmdline"
	base=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["image_path"])' \
		< <("$vmctl" status bench --json))
	"$vmctl" stop bench --timeout 10 >/dev/null 2>&1

	# bare QEMU, same arguments, a fresh overlay on the same base
	rm -f "$wd/overlay.qcow2" "$wd/pidfile" "$wd/qmp.sock" "$wd/console.sock"
	qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$wd/overlay.qcow2"
	t0=$(date +%s.%N)
	"${args[@]}"
	qemu_times+=("$(banner_after "$t0" "$port")")
	kill "$(cat "$wd/pidfile")"; sleep 0.5
	"$vmctl" destroy bench >/dev/null 2>&1
done

/usr/bin/python3 - "${vm_times[*]}" "${qemu_times[*]}" <<'PY'
import statistics, sys
v = [float(x) for x in sys.argv[1].split()]
q = [float(x) for x in sys.argv[2].split()]
mv, mq = statistics.median(v), statistics.median(q)
print(f"vmctl up --no-provision to SSH: median {mv:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in v)})")
print(f"bare qemu-system-x86_64 to SSH:  median {mq:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in q)})")
print(f"ratio: {mv / mq:.3f} (goal <= 1.05): {'met' if mv / mq <= 1.05 else 'NOT met'}")
PY
