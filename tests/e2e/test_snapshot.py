# SPDX-License-Identifier: MIT
"""Saved state and snapshots end to end, with real QEMU and the test guest.

Saved state: `up`, a marker in the guest's tmpfs and a counting process,
`stop --save` (QEMU gone), `start` (marker, process and SSH still there),
`down --save` + `up` (restored, not provisioned again), a truncated state
file, a changed memory size and a state without its description (each boots
cold with a warning saying why), `start --cold`.

Snapshots: a marker written to the disk (raw, past the guest's only
partition, so the guest's file system is never involved), a snapshot with
RAM of the running VM, the marker overwritten, the snapshot restored (the
first marker and a tmpfs marker back); the stopped variants (a disk-only
snapshot restored with qemu-img, read back from the overlay with qemu-io;
a RAM snapshot restored onto the stopped VM starts it from that moment);
list and rm.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import guest_image_path, wait_ssh_banner  # noqa: E402

T = 300  # one command may boot a guest under software emulation
# Where the disk marker goes: past the guest's partition (it ends at 21 MiB;
# the VM's disk is grown to 1 GiB).
MARK_SECTOR = 50000


@pytest.fixture(scope="module")
def guest_image():
    return guest_image_path()


@pytest.fixture
def qvm(data_home):
    v = Vmctl(data_home, backend=None)
    v.env.pop("VMCTL_QEMU", None)
    v.env["VMCTL_ACCEL"] = "tcg"
    yield v
    try:
        names = list(json.load(open(v.store_path))["vms"])
    except FileNotFoundError:
        names = []
    for name in names:
        v.run("destroy", name, timeout=60)


def status(qvm, name):
    return json.loads(qvm.run("status", name, "--json", check=0).stdout)


def ssh(qvm, name, cmd, check=0):
    return qvm.run("ssh", name, "--", cmd, timeout=T, check=check).stdout


def wait_up(qvm, name):
    wait_ssh_banner(status(qvm, name)["ssh_port"], timeout=T)


def qemu_pid_gone(vm):
    """No process runs with the VM's QMP socket on its command line."""
    sock = os.path.join(vm["work_dir"], "qmp.sock").encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if sock in f.read():
                    return False
        except OSError:
            pass
    return True


VMFILE = """
vm "sv" {
    image "guest.qcow2"
    memory 256
    cloud-init {
        hostname "sv"
    }
    ssh {
        user "alice"
    }
    provision "shell" {
        inline "echo provisioned >> /tmp/provisioned"
    }
}
"""

COUNTER = ("echo tmpfs-marker > /tmp/marker; "
           "(setsid sh -c 'echo $$ > /tmp/counter.pid; i=0; "
           "while :; do i=$((i+1)); echo $i > /tmp/count; sleep 1; done' "
           "</dev/null >/dev/null 2>&1 &); sleep 1; cat /tmp/counter.pid")


def test_saved_state(qvm, tmp_path, guest_image):
    os.symlink(guest_image, tmp_path / "guest.qcow2")
    (tmp_path / "VMFile.kdl").write_text(VMFILE)
    qvm.run("up", cwd=tmp_path, timeout=T, check=0)
    assert ssh(qvm, "sv", "cat /tmp/provisioned") == "provisioned\n"
    pid = ssh(qvm, "sv", COUNTER).strip()
    assert pid.isdigit()

    # stop --save: QEMU exits, the VM is saved (list, status, --json)
    p = qvm.run("stop", "--save", "sv", timeout=T, check=0)
    assert "Saved VM 'sv'" in p.stdout
    vm = status(qvm, "sv")
    assert vm["state"] == "saved" and vm["pid"] is None
    assert qemu_pid_gone(vm)
    assert re.search(r"^sv .* saved$", qvm.run("list", check=0).stdout, re.M)
    state = os.path.join(vm["work_dir"], "saved.state")
    assert os.path.getsize(state) > 1 << 20
    assert os.stat(state).st_mode & 0o077 == 0

    # start: the same processes, the same tmpfs, SSH answers at once; the
    # guest's clock, which stood still while saved, is stepped to the host's
    time.sleep(8)
    p = qvm.run("start", "sv", timeout=T, check=0)
    guest_now = int(ssh(qvm, "sv", "date +%s"))
    assert abs(guest_now - time.time()) <= 3, (guest_now, time.time())
    assert "Restored VM 'sv'" in p.stdout and "warning" not in p.stderr
    assert not os.path.exists(state)  # consumed
    out = ssh(qvm, "sv", "cat /tmp/marker; kill -0 %s && echo alive; cat /tmp/count; "
                         "sleep 2; cat /tmp/count" % pid)
    marker, alive, c1, c2 = out.split()
    assert marker == "tmpfs-marker" and alive == "alive" and int(c2) > int(c1)

    # down --save, then up: restored, not provisioned a second time
    p = qvm.run("down", "--save", cwd=tmp_path, timeout=T, check=0)
    assert "[sv] saved" in p.stdout
    p = qvm.run("up", cwd=tmp_path, timeout=T, check=0)
    assert "(restored)" in p.stdout
    assert ssh(qvm, "sv", "cat /tmp/provisioned /tmp/marker") == \
        "provisioned\ntmpfs-marker\n"

    # a truncated state file: cold boot, with the warning saying why
    qvm.run("stop", "--save", "sv", timeout=T, check=0)
    with open(state, "r+b") as f:
        f.truncate(os.path.getsize(state) // 2)
    p = qvm.run("start", "sv", timeout=T, check=0)
    assert "Started VM 'sv'" in p.stdout
    assert re.search(r"warning: .*saved state cannot be restored .*truncated.*booting cold",
                     p.stderr), p.stderr
    assert not os.path.exists(state)

    # a changed memory size (saved while the guest boots): the same
    qvm.run("stop", "--save", "sv", timeout=T, check=0)
    store = json.load(open(qvm.store_path))
    store["vms"]["sv"]["memory_mb"] = 320
    with open(qvm.store_path, "w") as f:
        json.dump(store, f)
    p = qvm.run("start", "sv", timeout=T, check=0)
    assert re.search(r"warning: .*saved with 256 MB of memory, the VM now has 320 MB"
                     r".*booting cold", p.stderr), p.stderr
    wait_up(qvm, "sv")
    # booted cold: the tmpfs is new
    assert ssh(qvm, "sv", "cat /tmp/marker 2>/dev/null || echo none") == "none\n"

    # a state without its description (a save killed between the two
    # renames) is never restored
    qvm.run("stop", "--save", "sv", timeout=T, check=0)
    os.unlink(os.path.join(vm["work_dir"], "saved.json"))
    p = qvm.run("start", "sv", timeout=T, check=0)
    assert re.search(r"warning: .*its description .*saved.json is missing.*booting cold",
                     p.stderr), p.stderr
    assert not os.path.exists(state)

    # start --cold discards a state that fits; destroy removes a saved VM
    qvm.run("stop", "--save", "sv", timeout=T, check=0)
    p = qvm.run("start", "--cold", "sv", timeout=T, check=0)
    assert "Started VM 'sv'" in p.stdout and "warning" not in p.stderr
    qvm.run("stop", "--save", "sv", timeout=T, check=0)
    qvm.run("destroy", "sv", timeout=T, check=0)
    assert not os.path.exists(vm["work_dir"])


def write_mark(qvm, name, text):
    ssh(qvm, name, "echo %s | sudo dd of=/dev/vda bs=512 seek=%d conv=fsync 2>/dev/null"
        % (text, MARK_SECTOR))


def read_mark(qvm, name):
    return ssh(qvm, name, "sudo dd if=/dev/vda bs=512 skip=%d count=1 2>/dev/null | head -n 1"
               % MARK_SECTOR).strip()


def read_mark_offline(overlay):
    """The marker as the stopped VM's disk holds it (qemu-io, read-only)."""
    p = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c",
                        "read -v %d 16" % (MARK_SECTOR * 512), overlay],
                       capture_output=True, text=True, check=True)
    # "0186a000:  74 68 69 72 64 0a 00 ...  third..."
    hexdump = p.stdout.splitlines()[0].split(":", 1)[1].split()[:16]
    return bytes(int(x, 16) for x in hexdump).split(b"\n")[0].decode()


def snapshots(qvm, name):
    return {s["tag"]: s for s in json.loads(
        qvm.run("snapshot", "list", "--json", name, check=0).stdout)}


def test_snapshots(qvm, guest_image):
    qvm.run("create", "--name", "sn", "--image", guest_image, "--memory", "256",
            "--disk", "1", "--start", timeout=T, check=0)
    wait_up(qvm, "sn")
    overlay = status(qvm, "sn")["overlay_path"]

    # running: disk and RAM together
    write_mark(qvm, "sn", "first")
    ssh(qvm, "sn", "echo ram-marker > /tmp/ram")
    p = qvm.run("snapshot", "create", "sn", "s1", timeout=T, check=0)
    assert "Created snapshot 's1'" in p.stdout
    write_mark(qvm, "sn", "second")
    ssh(qvm, "sn", "rm /tmp/ram")
    assert read_mark(qvm, "sn") == "second"
    p = qvm.run("snapshot", "restore", "sn", "s1", timeout=T, check=0)
    assert status(qvm, "sn")["state"] == "running"
    assert read_mark(qvm, "sn") == "first"
    assert ssh(qvm, "sn", "cat /tmp/ram") == "ram-marker\n"

    # stopped: the disk only
    qvm.run("stop", "sn", timeout=T, check=0)
    qvm.run("snapshot", "create", "sn", "s2", timeout=T, check=0)
    snaps = snapshots(qvm, "sn")
    assert set(snaps) == {"s1", "s2"}
    assert snaps["s1"]["ram"] and snaps["s1"]["vm_state_size"] > 0
    assert not snaps["s2"]["ram"] and snaps["s2"]["vm_state_size"] == 0
    table = qvm.run("snapshot", "list", "sn", check=0).stdout
    assert re.search(r"^s1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +[\d.]+ MiB +yes$", table, re.M)
    assert re.search(r"^s2 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +- +no$", table, re.M)

    # a RAM snapshot restored onto the stopped VM starts it from that moment
    p = qvm.run("snapshot", "restore", "sn", "s1", timeout=T, check=0)
    assert "the VM runs from that moment" in p.stdout
    assert status(qvm, "sn")["state"] == "running"
    assert ssh(qvm, "sn", "cat /tmp/ram") == "ram-marker\n"
    write_mark(qvm, "sn", "third")
    # a disk-only snapshot cannot go under a running VM
    p = qvm.run("snapshot", "restore", "sn", "s2", timeout=T, check=1)
    assert "holds the disk only" in p.stderr and "stop the VM first" in p.stderr
    qvm.run("stop", "sn", timeout=T, check=0)
    assert read_mark_offline(overlay) == "third"
    qvm.run("snapshot", "restore", "sn", "s2", timeout=T, check=0)
    assert read_mark_offline(overlay) == "first"
    assert status(qvm, "sn")["state"] == "stopped"

    # errors, then rm
    p = qvm.run("snapshot", "create", "sn", "s1", check=1)
    assert "already has a snapshot tagged 's1'" in p.stderr
    p = qvm.run("snapshot", "restore", "sn", "nope", check=1)
    assert "has no snapshot tagged 'nope'" in p.stderr
    qvm.run("snapshot", "rm", "sn", "s1", timeout=T, check=0)
    qvm.run("snapshot", "rm", "sn", "s2", timeout=T, check=0)
    assert snapshots(qvm, "sn") == {}
    assert qvm.run("snapshot", "list", "sn", check=0).stdout == "No snapshots\n"
