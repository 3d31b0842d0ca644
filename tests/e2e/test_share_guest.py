# SPDX-License-Identifier: MIT
"""Shared folders end to end: a VMFile `share` (virtiofs through virtiofsd)
and a readonly one (virtio-9p, QEMU refuses the writes), mounted by the
generated cloud-config in the test guest. A file written on the host is seen
in the guest and one written in the guest on the host; the readonly share
refuses writes, even root's; virtiofsd lives exactly as long as the VM's
QEMU: gone after stop, after a kill -9 of QEMU, and after destroy.
Real QEMU, the test guest, real virtiofsd (as root, which it needs)."""
import json
import os
import signal
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import guest_image_path  # noqa: E402

T = 600  # a boot under software emulation on a busy host
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"

VMFILE = """
vm "sharevm" {
    image "guest.qcow2"
    memory 512
    cloud-init {
        hostname "sharevm"
    }
    share "./rw" "/home/vm/rw"
    share "ro" "/srv/ro" readonly=#true
}
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="virtiofsd needs root")


def wait_ssh(v, proj, name, timeout=T):
    """`vmctl ssh` waits 30 s; a boot under a loaded host can take longer."""
    deadline = time.monotonic() + timeout
    while True:
        p = v.run("ssh", name, "--", "true", cwd=proj, timeout=timeout)
        if p.returncode == 0 or time.monotonic() > deadline:
            assert p.returncode == 0, p.stderr
            return


def virtiofsd_pids(data_dir):
    """virtiofsd processes whose socket is under data_dir (one virtiofsd is
    two processes: it runs its server in a child, in new namespaces)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if exe == VIRTIOFSD and any(a.startswith(b"--socket-path=" + data_dir.encode())
                                    for a in argv):
            pids.append(int(d))
    return pids


def wait_no_virtiofsd(data_dir, timeout=20):
    deadline = time.monotonic() + timeout
    while virtiofsd_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    return virtiofsd_pids(data_dir)


def started(data_dir):
    """The virtiofsd vmctl started (their pidfiles), each alive and ours."""
    wd = os.path.join(data_dir, "vmctl", "vms", "sharevm")
    pids = [int(open(os.path.join(wd, f)).read()) for f in sorted(os.listdir(wd))
            if f.startswith("virtiofsd") and f.endswith(".pid")]
    running = virtiofsd_pids(data_dir)
    assert all(p in running for p in pids), (pids, running)
    return pids


@pytest.fixture
def project(tmp_path):
    proj = tmp_path / "proj"
    (proj / "rw").mkdir(parents=True)
    (proj / "ro").mkdir()
    os.chmod(proj / "rw", 0o777)
    os.symlink(guest_image_path(), proj / "guest.qcow2")
    (proj / "VMFile.kdl").write_text(VMFILE)
    (proj / "ro" / "fixed.txt").write_text("read me\n")
    data = tmp_path / "d"
    data.mkdir()
    v = Vmctl(str(data), backend=None)
    v.env.pop("VMCTL_QEMU", None)
    yield v, proj, str(data)
    v.run("destroy", "sharevm", timeout=120)
    assert wait_no_virtiofsd(str(data)) == []


def ssh(v, proj, cmd, check=0):
    return v.run("ssh", "sharevm", "--", cmd, cwd=proj, timeout=T, check=check)


def test_share_both_ways_readonly_and_lifetime(project):
    v, proj, data = project
    p = v.run("up", cwd=proj, timeout=T, check=0)
    assert "virtio-9p" not in p.stderr, p.stderr
    wait_ssh(v, proj, "sharevm")
    vm = json.loads(v.run("status", "sharevm", "--json", check=0).stdout)
    assert vm["shares"] == [
        {"host": str(proj / "rw"), "guest": "/home/vm/rw", "readonly": False,
         "type": "virtiofs"},
        {"host": str(proj / "ro"), "guest": "/srv/ro", "readonly": True, "type": "9p"},
    ]
    # one virtiofsd, for the virtiofs share; the 9p share is QEMU's own
    assert len(started(data)) == 1

    # host -> guest, guest -> host
    (proj / "rw" / "from-host.txt").write_text("hello from the host\n")
    assert ssh(v, proj, "cat /home/vm/rw/from-host.txt").stdout == "hello from the host\n"
    ssh(v, proj, "echo written in the guest > /home/vm/rw/from-guest.txt")
    assert (proj / "rw" / "from-guest.txt").read_text() == "written in the guest\n"
    out = ssh(v, proj, "grep -E ' /home/vm/rw | /srv/ro ' /proc/mounts").stdout
    assert "vmctl0 /home/vm/rw virtiofs" in out and "vmctl1 /srv/ro 9p ro" in out

    # readonly: readable, and no write gets through, not even root's
    assert ssh(v, proj, "cat /srv/ro/fixed.txt").stdout == "read me\n"
    p = ssh(v, proj, "sudo sh -c 'echo x > /srv/ro/new.txt'", check=None)
    assert p.returncode != 0
    p = ssh(v, proj, "sudo rm /srv/ro/fixed.txt", check=None)
    assert p.returncode != 0
    assert sorted(os.listdir(proj / "ro")) == ["fixed.txt"]

    # stop: virtiofsd goes with QEMU
    v.run("stop", "sharevm", timeout=T, check=0)
    assert wait_no_virtiofsd(data) == []
    # start again: a new virtiofsd, the share mounted again
    v.run("start", "sharevm", timeout=T, check=0)
    wait_ssh(v, proj, "sharevm")
    assert len(started(data)) == 1
    assert ssh(v, proj, "cat /home/vm/rw/from-guest.txt").stdout == "written in the guest\n"

    # kill -9 of QEMU: virtiofsd exits by itself once its peer is gone
    vm = json.loads(v.run("status", "sharevm", "--json", check=0).stdout)
    os.kill(vm["pid"], signal.SIGKILL)
    assert wait_no_virtiofsd(data) == []
    p = v.run("status", "sharevm", "--json", check=0)
    assert json.loads(p.stdout)["state"] != "running"

    # the next start replaces what the killed run left (socket, pidfile);
    # destroy (in the fixture) leaves no virtiofsd either
    v.run("start", "sharevm", timeout=T, check=0)
    wait_ssh(v, proj, "sharevm")
    assert len(started(data)) == 1
    assert ssh(v, proj, "cat /home/vm/rw/from-host.txt").stdout == "hello from the host\n"


def test_share_errors(tmp_path):
    """The errors come before anything is created."""
    data = tmp_path / "d"
    data.mkdir()
    v = Vmctl(str(data), backend=None)
    os.symlink(guest_image_path(), tmp_path / "guest.qcow2")
    (tmp_path / "VMFile.kdl").write_text(VMFILE)
    (tmp_path / "rw").mkdir()
    p = v.run("up", cwd=tmp_path, timeout=T, check=1)
    assert "shared directory `ro` does not exist" in p.stderr
    assert "VMFile.kdl:9:11" in p.stderr
    assert not os.path.exists(data / "vmctl" / "vms" / "sharevm")
