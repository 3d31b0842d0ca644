# SPDX-License-Identifier: MIT
"""network "none" end to end: the test guest boots without a NIC (its console
shows it up, with no network interface to configure), and everything that
would need to reach it over SSH fails at once with the error: `vmctl ssh`
within a second, `vmctl provision`, and `vmctl up` of a VM with
provisioners (before anything is created). Real QEMU, the test guest.
"""
import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import READY_LINE, guest_image_path  # noqa: E402

T = 300  # one command may boot a guest under software emulation (load of 6)

VMFILE = """
vm "iso" {
    image "guest.qcow2"
    memory 256
    network "none"
    cloud-init {
        hostname "iso-host"
    }
    ssh {
        user "alice"
    }
}
vm "isoprov" {
    image "guest.qcow2"
    memory 256
    network "none"
    ssh {
        user "alice"
    }
    provision "shell" {
        inline "hostname"
    }
}
"""


@pytest.fixture
def qvm(data_home):
    v = Vmctl(data_home, backend=None)
    v.env.pop("VMCTL_QEMU", None)
    yield v
    try:
        names = list(json.load(open(v.store_path))["vms"])
    except FileNotFoundError:
        names = []
    for name in names:
        v.run("destroy", name, timeout=60)


def console(vm):
    try:
        with open(os.path.join(vm["work_dir"], "console.log"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_none_boots_and_ssh_fails_at_once(qvm, tmp_path):
    os.symlink(guest_image_path(), tmp_path / "guest.qcow2")
    (tmp_path / "VMFile.kdl").write_text(VMFILE)

    # up with provisioners: refused before anything is created or booted
    t0 = time.monotonic()
    p = qvm.run("up", "--name", "isoprov", cwd=tmp_path, timeout=T)
    took = time.monotonic() - t0
    assert p.returncode == 1, p.stderr
    assert "has network \"none\": its 1 provisioner cannot reach it over SSH" in p.stderr
    assert "--no-provision" in p.stderr
    assert took < 5, took
    assert not os.path.exists(qvm.store_path) or \
        "isoprov" not in json.load(open(qvm.store_path))["vms"]

    # without provisioners it just boots
    p = qvm.run("up", "--name", "iso", cwd=tmp_path, timeout=T, check=0)
    vm = json.loads(qvm.run("status", "iso", "--json", check=0).stdout)
    assert vm["state"] == "running" and vm["ip"] is None
    assert vm["network"]["type"].lower() == "none"
    args = open(f"/proc/{vm['pid']}/cmdline").read().split("\0")
    assert "-nic" in args and args[args.index("-nic") + 1] == "none"
    assert not any(a.startswith("virtio-net") for a in args)
    deadline = time.monotonic() + T
    while READY_LINE not in console(vm):
        assert time.monotonic() < deadline, console(vm)[-3000:]
        time.sleep(0.5)
    text = console(vm)
    # the guest came up with no interface to run DHCP on
    assert "network: DHCP on" not in text, text[-3000:]
    assert "IP:" in qvm.run("status", "iso", check=0).stdout

    # ssh fails within a second, with the error and a hint
    t0 = time.monotonic()
    p = qvm.run("ssh", "iso", "--", "hostname", cwd=tmp_path, timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 1, p.stderr
    assert took < 1.0, took
    assert "VM 'iso' has network \"none\": nothing can reach it over SSH" in p.stderr
    assert "help:" in p.stderr and "network \"user\"" in p.stderr
    print(f"\nvmctl ssh on a network \"none\" VM failed in {took:.2f} s")

    # provision too (the VMFile's definition has no provisioners: give it one)
    (tmp_path / "VMFile.kdl").write_text(VMFILE.replace(
        'user "alice"\n    }\n}\nvm "isoprov"',
        'user "alice"\n    }\n    provision "shell" {\n        inline "true"\n    }\n}\n'
        'vm "isoprov"', 1))
    t0 = time.monotonic()
    p = qvm.run("provision", "--name", "iso", cwd=tmp_path, timeout=30)
    assert p.returncode == 1 and time.monotonic() - t0 < 1.0, p.stderr
    assert "nothing can reach it over SSH" in p.stderr
