# SPDX-License-Identifier: MIT
"""End-to-end tests of the QEMU backend: the real vmctl binary, real QEMU
(software emulation unless the host has a usable KVM), the test guest from
tests/guest/, the system ssh client.

Run: VMCTL_BIN=build/src/vmctl /usr/bin/python3 -m pytest tests/e2e/test_qemu.py
"""
import concurrent.futures
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import termios
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import IGNORE_ACPI, guest_image_path  # noqa: E402  (tests/lib/guest.py)

QEMU = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"


BOOT_TIMEOUT = 180  # TCG on a loaded 2-core machine: the guest needs 10-20 s alone


@pytest.fixture(scope="module")
def guest_image():
    return guest_image_path()


@pytest.fixture
def qvm(data_home):
    """vmctl with the default backend (qemu) in an isolated data directory.
    Destroys whatever a test leaves behind."""
    v = Vmctl(data_home, backend=None)
    v.env.pop("VMCTL_ACCEL", None)
    v.env.pop("VMCTL_QEMU", None)
    yield v
    for name in list(store(v)):
        v.run("destroy", name, timeout=60)


def store(v):
    try:
        with open(v.store_path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    return doc.get("vms", doc)


def handle(v, name):
    return store(v)[name]


def status_state(v, name):
    p = v.run("status", name, check=0)
    m = re.search(r"^State:\s+(\S+)", p.stdout, re.M)
    assert m, p.stdout
    return m.group(1)


def wait_ssh_banner(port, timeout=BOOT_TIMEOUT):
    """Wait for sshd's banner: slirp accepts TCP before the guest is up, so
    only the banner proves sshd answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no SSH banner on port {port} within {timeout} s")


def ssh(port, key, user, command, timeout=60):
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", key, "-p", str(port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
         f"{user}@127.0.0.1", command],
        capture_output=True, text=True, timeout=timeout)


def qmp(sock_path, command):
    """One QMP command over the VM's socket, answered by QEMU itself."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock_path)
        f = s.makefile("rw")
        assert "QMP" in json.loads(f.readline())
        for cmd in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": cmd}) + "\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "event" not in msg:
                    break
            assert "return" in msg, msg
        return msg["return"]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def assert_no_vm_files(v, name):
    assert name not in store(v)
    assert not os.path.exists(os.path.join(v.data_dir, "vms", name))


def create_started(v, name, image, *extra, env=None):
    t0 = time.monotonic()
    p = v.run("create", "--name", name, "--image", image, "--memory", "256", "--start",
              *extra, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return p, time.monotonic() - t0


@pytest.fixture(scope="module")
def booted(guest_image, tmp_path_factory):
    """Two guests booted at once (they boot in parallel, sparing wall time):
    'alpha' with vmctl's generated seed and key, 'deaf' with raw user-data
    that makes the test guest ignore the ACPI power button."""
    data_home = tempfile.mkdtemp(prefix="vmt-", dir="/tmp")
    v = Vmctl(data_home, backend=None)
    v.env.pop("VMCTL_ACCEL", None)
    v.env.pop("VMCTL_QEMU", None)
    tmp = tmp_path_factory.mktemp("deaf")
    key = tmp / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ud = tmp / "user-data"
    ud.write_text(f"#cloud-config\n{IGNORE_ACPI}\nhostname: deaf\nusers:\n"
                  "  - name: tester\n    shell: /bin/sh\n    ssh_authorized_keys:\n"
                  f"      - {key.with_suffix('.pub').read_text().strip()}\n")
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        fa = ex.submit(create_started, v, "alpha", guest_image)
        fd = ex.submit(create_started, v, "deaf", guest_image, "--cloud-init", str(ud))
        created = {"alpha": fa.result()[0], "deaf": fd.result()[0]}
    yield v, created, str(key)
    for name in list(store(v)):
        v.run("destroy", name, timeout=60)
    shutil.rmtree(data_home, ignore_errors=True)


def test_boot_ssh_suspend_console_stop_destroy(booted):
    qvm, created, _ = booted
    p = created["alpha"]
    if not os.path.exists("/dev/kvm") or os.path.exists("/sys/module/kvm_pvm"):
        assert "warning:" in p.stderr and "TCG" in p.stderr, p.stderr
    h = handle(qvm, "alpha")
    assert h["state"] == "running"
    port, pid = h["ssh_host_port"], h["pid"]
    assert port and pid_alive(pid)
    assert re.fullmatch(r"127\.0\.0\.1:59\d\d", h["vnc_addr"])
    assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", h["mac_addr"])
    t0 = time.monotonic()
    wait_ssh_banner(port)
    print(f"\nboot to SSH banner: {time.monotonic() - t0:.1f} s after start returned")

    # the generated key is accepted; hostname and user come from our seed
    key = h["ssh_key_path"]
    assert key and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    r = ssh(port, key, h.get("ssh_user") or "vm", "hostname; id -un")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["alpha", h.get("ssh_user") or "vm"]

    # suspend: QEMU itself reports the vCPUs paused; resume runs them again
    qvm.run("suspend", "alpha", check=0)
    assert qmp(h["qmp_socket"], "query-status")["status"] == "paused"
    assert status_state(qvm, "alpha") == "suspended"
    qvm.run("resume", "alpha", check=0)
    assert qmp(h["qmp_socket"], "query-status")["status"] == "running"
    assert status_state(qvm, "alpha") == "running"

    # console on a pty: shows the guest's shell, Ctrl+] detaches and the
    # terminal is restored
    console_roundtrip(qvm, "alpha")
    # console with piped stdin: bytes go to the guest, end of input detaches
    p = qvm.run("console", "alpha", input="echo piped-$((3+4))\n", timeout=30)
    assert p.returncode == 0, p.stderr
    assert "piped-7" in p.stdout
    p = qvm.run("console", "nonexistent", timeout=30)
    assert p.returncode == 1 and "not_found" in p.stderr

    # stop by ACPI within the timeout (no SIGTERM needed)
    t0 = time.monotonic()
    p = qvm.run("stop", "--timeout", "60", "alpha", check=0)
    took = time.monotonic() - t0
    print(f"ACPI stop: {took:.1f} s")
    assert "SIGTERM" not in p.stderr, p.stderr
    assert took < 60
    assert not pid_alive(pid)
    assert status_state(qvm, "alpha") == "stopped"
    p = qvm.run("console", "alpha", timeout=30)
    assert p.returncode == 1 and "invalid_state" in p.stderr

    # start again: same MAC and port; destroy kills the running QEMU
    qvm.run("start", "alpha", check=0)
    h2 = handle(qvm, "alpha")
    assert h2["state"] == "running" and pid_alive(h2["pid"]) and h2["pid"] != pid
    assert (h2["mac_addr"], h2["ssh_host_port"]) == (h["mac_addr"], port)
    qvm.run("destroy", "alpha", check=0)
    assert not pid_alive(h2["pid"])
    assert_no_vm_files(qvm, "alpha")


# Raw mode as `vmctl console` needs it: no line editing, no local echo, no
# signals from Ctrl+C / Ctrl+Z (they go to the guest), no CR->NL, no flow
# control; output bytes unchanged.
RAW_OFF = [(0, termios.ICRNL | termios.IXON, "iflag ICRNL|IXON"),
           (1, termios.OPOST, "oflag OPOST"),
           (3, termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN,
            "lflag ICANON|ECHO|ISIG|IEXTEN")]


def raw_flags_left(attrs):
    """The flags of RAW_OFF still set in attrs (an empty list: raw)."""
    return [what for i, bits, what in RAW_OFF if attrs[i] & bits]


def console_roundtrip(v, name):
    """vmctl console on a pty: the pty is raw while it is attached, Ctrl+]
    detaches, and the pty's settings are back exactly as they were.
    tcgetattr on the master reads the settings of the pty pair."""
    master, slave = pty.openpty()
    # start from a cooked terminal, every flag of RAW_OFF set, whatever the
    # pty's defaults: a console that never goes raw cannot look raw
    cooked = termios.tcgetattr(slave)
    for i, bits, _ in RAW_OFF:
        cooked[i] |= bits
    termios.tcsetattr(slave, termios.TCSANOW, cooked)
    before = termios.tcgetattr(slave)
    assert len(raw_flags_left(before)) == len(RAW_OFF), before
    proc = subprocess.Popen([v.bin, "console", name], stdin=slave, stdout=slave, stderr=slave,
                            env=v.env, start_new_session=True)
    os.close(slave)
    out = b""

    def read_until(pattern, timeout=30):
        nonlocal out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
            if re.search(pattern, out):
                return
        raise AssertionError(f"console: {pattern!r} not seen in {out[-500:]!r}")

    try:
        read_until(rb"Press Ctrl\+\] to detach")
        # vmctl sets raw mode right after this line; nothing is typed before
        # (TCSAFLUSH would drop it)
        deadline = time.monotonic() + 10
        while raw_flags_left(termios.tcgetattr(master)):
            assert proc.poll() is None, f"console exited {proc.returncode}: {out!r}"
            assert time.monotonic() < deadline, \
                f"attached, but still set: {raw_flags_left(termios.tcgetattr(master))}"
            time.sleep(0.05)
        os.write(master, b"\r")
        time.sleep(0.5)
        os.write(master, b"echo marker-$((6*7))\r")
        read_until(rb"marker-42")  # computed by the guest's shell, not echoed
        assert raw_flags_left(termios.tcgetattr(master)) == []  # still raw while attached
        os.write(master, b"\x1d")  # no newline: raw mode delivers it at once
        proc.wait(timeout=10)
        assert proc.returncode == 0
        read_until(rb"Detached from the console")
        # every setting is back as it was before the console attached
        assert termios.tcgetattr(master) == before
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_acpi_ignored_guest_is_terminated(booted):
    """A guest that ignores the power button (the test guest's switch in raw
    user-data, passed through untouched) is stopped with SIGTERM after the
    timeout."""
    qvm, _, key = booted
    h = handle(qvm, "deaf")
    assert h.get("ssh_key_path") in (None, "")  # raw user-data: no generated key
    wait_ssh_banner(h["ssh_host_port"])
    r = ssh(h["ssh_host_port"], key, "tester", "hostname")
    assert r.returncode == 0 and r.stdout.strip() == "deaf", r.stderr
    t0 = time.monotonic()
    p = qvm.run("stop", "--timeout", "4", "deaf", check=0)
    took = time.monotonic() - t0
    print(f"\nstop of an ACPI-deaf guest: {took:.1f} s")
    assert "SIGTERM" in p.stderr, p.stderr
    assert 4 <= took < 15
    assert not pid_alive(h["pid"])
    assert status_state(qvm, "deaf") == "stopped"
    qvm.run("destroy", "deaf", check=0)
    assert_no_vm_files(qvm, "deaf")


def test_kill9_and_foreign_pidfile(qvm, guest_image):
    create_started(qvm, "kil", guest_image)
    h = handle(qvm, "kil")
    os.kill(h["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(h["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_state(qvm, "kil") == "stopped"

    # a live, unrelated process in the pidfile and in the record is not the VM
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        with open(os.path.join(h["work_dir"], "pidfile"), "w") as f:
            f.write(f"{sleeper.pid}\n")
        with open(qvm.store_path) as f:
            doc = json.load(f)
        vms = doc.get("vms", doc)
        vms["kil"]["pid"] = sleeper.pid
        vms["kil"]["state"] = "running"
        with open(qvm.store_path, "w") as f:
            json.dump(doc, f)
        assert status_state(qvm, "kil") == "stopped"
        qvm.run("destroy", "kil", check=0)
        assert sleeper.poll() is None, "destroy killed a process that is not the VM"
        assert_no_vm_files(qvm, "kil")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_four_concurrent_vms_distinct_working_ports(qvm, guest_image):
    names = [f"c{i}" for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda n: create_started(qvm, n, guest_image), names))
    print(f"\n4 concurrent create --start: {max(r[1] for r in results):.1f} s")
    ports = {n: handle(qvm, n)["ssh_host_port"] for n in names}
    assert len(set(ports.values())) == 4, ports
    t0 = time.monotonic()
    for n in names:
        wait_ssh_banner(ports[n])
    print(f"all 4 answer SSH {time.monotonic() - t0:.1f} s later")
    for n in names:
        h = handle(qvm, n)
        r = ssh(ports[n], h["ssh_key_path"], h.get("ssh_user") or "vm", "hostname")
        assert r.returncode == 0 and r.stdout.strip() == n, (n, r.stderr)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        assert all(p.returncode == 0 for p in ex.map(
            lambda n: qvm.run("destroy", n, timeout=60), names))
    for n in names:
        assert_no_vm_files(qvm, n)


def write_wrapper(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def listeners():
    """{port: pid} of TCP listeners on 127.0.0.1, from `ss`."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.search(r"127\.0\.0\.1:(\d+)\s.*pid=(\d+)", line)
        if m:
            res[int(m.group(1))] = int(m.group(2))
    return res


def test_sixteen_concurrent_starts_get_distinct_ports(qvm, guest_image, tmp_path):
    """16 VMs started at once: 16 distinct ports, each forwarded by its own
    QEMU. Real QEMU, but with -S (vCPUs never run) to spare the CPU."""
    qvm.env["VMCTL_QEMU"] = write_wrapper(tmp_path / "qemu-paused",
                                          f'exec {QEMU} "$@" -S\n')
    names = [f"p{i:02d}" for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        procs = list(ex.map(lambda n: qvm.run("create", "--name", n, "--image", guest_image,
                                              "--memory", "64", "--start", timeout=120),
                            names))
    for p in procs:
        assert p.returncode == 0, p.stderr
    hs = {n: handle(qvm, n) for n in names}
    ports = [h["ssh_host_port"] for h in hs.values()]
    assert len(set(ports)) == 16, ports
    owners = listeners()
    for n, h in hs.items():
        assert owners.get(h["ssh_host_port"]) == h["pid"], (n, h["ssh_host_port"], owners)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda n: qvm.run("destroy", n, check=0, timeout=60), names))


def test_port_taken_after_create_is_replaced(qvm, guest_image, tmp_path):
    qvm.env["VMCTL_QEMU"] = write_wrapper(tmp_path / "qemu-paused",
                                          f'exec {QEMU} "$@" -S\n')
    qvm.run("create", "--name", "busy", "--image", guest_image, "--memory", "64", check=0)
    port = handle(qvm, "busy")["ssh_host_port"]
    with socket.socket() as s:
        # SO_REUSEADDR: earlier tests may leave TIME_WAIT connections on it
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        qvm.run("start", "busy", check=0)
    h = handle(qvm, "busy")
    assert h["ssh_host_port"] != port
    assert listeners().get(h["ssh_host_port"]) == h["pid"]


def test_forward_failure_reported_by_qemu_is_retried(qvm, guest_image, tmp_path):
    """Simulates losing the race for the port between vmctl's check and
    QEMU's bind: the first QEMU run fails the way QEMU does, the next works."""
    marker = tmp_path / "failed-once"
    qvm.env["VMCTL_QEMU"] = write_wrapper(tmp_path / "qemu-race", f"""
if [ ! -e {marker} ]; then
    : > {marker}
    echo "qemu-system-x86_64: -netdev user,id=net0: Could not set up host forwarding rule 'tcp:127.0.0.1:1-:22'" >&2
    exit 1
fi
exec {QEMU} "$@" -S
""")
    qvm.run("create", "--name", "race", "--image", guest_image, "--memory", "64", check=0)
    first = handle(qvm, "race")["ssh_host_port"]
    qvm.run("start", "race", check=0)
    h = handle(qvm, "race")
    assert marker.exists() and h["ssh_host_port"] != first
    assert listeners().get(h["ssh_host_port"]) == h["pid"]


def test_kvm_emulation_failure_is_a_clear_error(qvm, guest_image, tmp_path):
    """Simulated: no machine here can run a guest under KVM, and the nested
    kvm-pvm hosts fail like this; the fake QEMU prints kvm-pvm's message."""
    qvm.env["VMCTL_QEMU"] = write_wrapper(tmp_path / "qemu-kvm-pvm", """
cat >&2 <<'EOF'
KVM internal error. Suberror: 1
extra data[0]: 0x0000000000000001
emulation failure
EAX=00007b2e EBX=00008f98 ECX=00000000 EDX=000051bf
EOF
exit 1
""")
    qvm.env["VMCTL_ACCEL"] = "kvm"
    p = qvm.run("create", "--name", "pvm", "--image", guest_image, "--start")
    assert p.returncode == 1
    assert "error[vm_manager::qemu::kvm_failed]" in p.stderr, p.stderr
    assert "VMCTL_ACCEL=tcg" in p.stderr
    assert status_state(qvm, "pvm") == "failed"


@pytest.mark.skipif(not os.path.exists("/sys/module/kvm_pvm"),
                    reason="needs a host whose /dev/kvm is the nested kvm-pvm")
def test_real_kvm_pvm_failure_is_reported(qvm, guest_image):
    """On a kvm-pvm host, forcing KVM boots into QEMU's emulation failure
    some seconds in: the state turns failed and the warning names the fix."""
    qvm.env["VMCTL_ACCEL"] = "kvm"
    p = qvm.run("create", "--name", "kvm", "--image", guest_image, "--memory", "256",
                "--start")
    if p.returncode == 1:  # caught while starting
        assert "kvm_failed" in p.stderr and "VMCTL_ACCEL=tcg" in p.stderr, p.stderr
        return
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        p = qvm.run("status", "kvm", check=0)
        if re.search(r"^State:\s+failed", p.stdout, re.M):
            break
        time.sleep(1)
    else:
        raise AssertionError("the guest did not fail under kvm-pvm")
    assert "KVM internal error" in p.stderr and "VMCTL_ACCEL=tcg" in p.stderr, p.stderr


def test_spawn_failure_shows_qemu_stderr(qvm, guest_image, tmp_path):
    qvm.env["VMCTL_QEMU"] = write_wrapper(
        tmp_path / "qemu-broken", 'echo "qemu-system-x86_64: -drive x: broken on purpose" >&2\n'
                                  'exit 1\n')
    p = qvm.run("create", "--name", "bad", "--image", guest_image, "--start")
    assert p.returncode == 1
    assert "error[vm_manager::qemu::spawn_failed]" in p.stderr, p.stderr
    assert "broken on purpose" in p.stderr
    assert status_state(qvm, "bad") == "failed"


def test_long_socket_path_refused_at_create(guest_image):
    base = tempfile.mkdtemp(prefix="vmt-", dir="/tmp")
    try:
        deep = os.path.join(base, "d" * 90)
        v = Vmctl(deep, backend=None)
        p = v.run("create", "--name", "x" * 20, "--image", guest_image)
        assert p.returncode == 1
        assert "vm_manager::vm::invalid_config" in p.stderr
        assert "XDG_DATA_HOME" in p.stderr
        assert "x" * 20 not in store(v)
    finally:
        shutil.rmtree(base)


def edit_record(v, name, **fields):
    """Set fields of a VM's record in vms.json (None removes one), as a
    hand-edited or hostile file would."""
    with open(v.store_path) as f:
        doc = json.load(f)
    rec = doc.get("vms", doc)[name]
    for k, val in fields.items():
        if val is None:
            rec.pop(k, None)
        else:
            rec[k] = val
    with open(v.store_path, "w") as f:
        json.dump(doc, f)


def test_real_qemu_is_ours_and_its_seed_is_private(qvm, guest_image):
    """The real thing still passes the ownership check: a booted QEMU is
    running, found again from its pidfile when the record lost its pid, and
    stopped. Its seed (holding the guest's host private key) is 0600."""
    create_started(qvm, "own", guest_image)
    h = handle(qvm, "own")
    pid = h["pid"]
    assert stat.S_IMODE(os.stat(os.path.join(h["work_dir"], "seed.iso")).st_mode) == 0o600
    assert os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("qemu-system-")
    assert status_state(qvm, "own") == "running"
    # a start interrupted before the pid was recorded: the pidfile's QEMU
    # is proven ours and adopted
    edit_record(qvm, "own", pid=None, pid_starttime=None)
    assert status_state(qvm, "own") == "running"
    p = qvm.run("stop", "--timeout", "10", "own", check=0)
    assert p.returncode == 0, p.stderr
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    assert status_state(qvm, "own") == "stopped"


def test_foreign_processes_are_never_signalled(qvm, guest_image, tmp_path):
    """Processes recorded as the VM's QEMU that vmctl cannot prove its own:
    `sleep 1001` with "qmp_socket":"1001" (a substring of its command line),
    the same with "", init, and sh exec'd under the name qemu-system-x86_64
    with the VM's exact -pidfile and -qmp arguments. A socket outside the
    VM's directory makes the record refused (store::corrupt) by every
    command; with the VM's own socket, each is shown stopped, stop is
    refused (the VM is stopped) and destroy leaves it running. Nothing is
    signalled either way. (The backend's own stop on such records:
    tests/unit/test_qemu_state.c.)"""
    qvm.run("create", "--name", "vic", "--image", guest_image, "--memory", "64", check=0)
    h = handle(qvm, "vic")
    pidfile = os.path.join(h["work_dir"], "pidfile")
    sleeper = subprocess.Popen(["sleep", "1001"])
    forged = subprocess.Popen(
        ["qemu-system-x86_64", "-c", "read x", "-pidfile", pidfile,
         "-qmp", f"unix:{h['qmp_socket']},server=on,wait=off"],
        executable="/bin/sh", stdin=subprocess.PIPE)
    try:
        # wait until both show their command line (just after exec it is empty)
        for proc in (sleeper, forged):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
                    if f.read():
                        break
                time.sleep(0.01)
        cases = [(sleeper.pid, "1001"), (sleeper.pid, ""), (1, ""), (1, h["qmp_socket"]),
                 (forged.pid, h["qmp_socket"])]
        for pid, sock in cases:
            for op in ("stop", "destroy"):
                if "vic" not in store(qvm):
                    qvm.run("create", "--name", "vic", "--image", guest_image,
                            "--memory", "64", check=0)
                    assert handle(qvm, "vic")["work_dir"] == h["work_dir"]
                else:  # a refused record from the case before: set it right
                    edit_record(qvm, "vic", qmp_socket=h["qmp_socket"])
                edit_record(qvm, "vic", pid=pid, qmp_socket=sock, state="running")
                with open(pidfile, "w") as f:
                    f.write(f"{pid}\n")
                foreign_socket = sock != h["qmp_socket"]
                if foreign_socket:
                    p = qvm.run("status", "vic", check=1)
                    assert "store::corrupt" in p.stderr and '"qmp_socket"' in p.stderr
                else:
                    assert status_state(qvm, "vic") == "stopped", (pid, sock)
                p = qvm.run(op, "vic", timeout=60)
                if foreign_socket:  # refused: the record is not vmctl's
                    assert p.returncode == 1 and "store::corrupt" in p.stderr, \
                        (pid, sock, p.stderr)
                elif op == "stop":  # refused: the live state is stopped
                    assert p.returncode == 1 and "it is stopped" in p.stderr, \
                        (pid, sock, p.stderr)
                else:
                    assert p.returncode == 0, (pid, sock, op, p.stderr)
                assert "SIGTERM" not in p.stderr, (pid, sock, op, p.stderr)
                time.sleep(0.05)
                assert sleeper.poll() is None, f"{op} signalled sleep ({sock!r})"
                assert forged.poll() is None, f"{op} signalled the forged QEMU"
                assert pid_alive(1)
    finally:
        for proc in (sleeper, forged):
            proc.kill()
            proc.wait()
