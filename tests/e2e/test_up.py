# SPDX-License-Identifier: MIT
"""The declarative flow end to end: `vmctl up` on a VMFile with all three
provisioner kinds, `vmctl ssh`, `provision`, `down`, `up` again, `reload`,
`down --destroy`, a failing step, a two-VM VMFile with --name, and the
guest's host key pinned. Real QEMU, the test guest, the system ssh client.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import guest_image_path  # noqa: E402
from httpserver import Server  # noqa: E402

T = 300  # one command may boot a guest under software emulation


@pytest.fixture(scope="module")
def guest_image():
    return guest_image_path()


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


def write_project(tmp_path, guest_image, vmfile):
    os.symlink(guest_image, tmp_path / "guest.qcow2")
    (tmp_path / "setup.sh").write_text(
        "#!/bin/sh\nset -e\necho \"script as $(id -un)\"\necho script-err >&2\n"
        "echo scripted > /tmp/scripted\n")
    (tmp_path / "payload.bin").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "VMFile.kdl").write_text(vmfile)
    return tmp_path


WEB = """
vm "web" {
    image "guest.qcow2"
    memory 512
    cloud-init {
        hostname "web-host"
    }
    ssh {
        user "alice"
    }
    provision "shell" {
        inline "echo inline-out; echo inline-err >&2; hostname"
    }
    provision "file" {
        source "payload.bin"
        destination "/tmp/payload.bin"
    }
    provision "shell" {
        script "setup.sh"
    }
}
"""


def up_phases(stdout):
    return re.findall(r"^\[web\] (\S+)\s+done in", stdout, re.M)


def test_up_ssh_provision_down_reload(qvm, tmp_path, guest_image):
    proj = write_project(tmp_path, guest_image, WEB)
    p = qvm.run("up", cwd=proj, timeout=T, check=0, env={"VMCTL_LOG": "store=trace"})
    # a new VM's up reads vms.json at most twice and writes it at most twice
    reads = re.findall(r"^trace store: read ", p.stderr, re.M)
    writes = re.findall(r"^trace store: wrote ", p.stderr, re.M)
    assert len(reads) <= 2 and len(writes) <= 2, p.stderr
    # every phase, with its duration, in order
    assert up_phases(p.stdout) == ["overlay", "seed", "create", "boot", "ssh", "provision"]
    assert "[web] up in " in p.stdout and "(created)" in p.stdout
    # provisioner output streamed, stdout and stderr kept apart
    assert "inline-out\n" in p.stdout and "web-host\n" in p.stdout
    assert "inline-err\n" in p.stderr and "script-err\n" in p.stderr
    assert "--- step 3/3: shell script" in p.stdout
    assert "script as alice\n" in p.stdout

    vm = json.loads(qvm.run("status", "web", "--json", check=0).stdout)
    assert vm["state"] == "running" and vm["ssh_user"] == "alice"
    log = open(os.path.join(vm["work_dir"], "provision.log")).read()
    assert re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+Z === step 1/3", log, re.M)
    assert re.search(r"Z \[1\] out: inline-out$", log, re.M)
    assert re.search(r"Z \[1\] err: inline-err$", log, re.M)
    assert re.search(r"Z \[3\] out: script as alice$", log, re.M)

    # vmctl ssh: name inferred from the VMFile, the seeded hostname, the
    # command's exit status, the uploaded file intact
    p = qvm.run("ssh", "--", "hostname", cwd=proj, timeout=T, check=0)
    assert p.stdout == "web-host\n"
    assert qvm.run("ssh", "web", "--", "false", cwd=proj, timeout=T).returncode == 1
    assert qvm.run("ssh", "web", "--", "exit 42", cwd=proj, timeout=T).returncode == 42
    p = qvm.run("ssh", "web", "--", "md5sum /tmp/payload.bin; cat /tmp/scripted",
                cwd=proj, timeout=T, check=0)
    assert hashlib.md5(bytes(range(256)) * 64).hexdigest() in p.stdout
    assert "scripted" in p.stdout
    # options after the name, as users type them; the user comes from the VMFile
    p = qvm.run("ssh", "web", "--user", "alice", "--", "id -un", cwd=proj, timeout=T, check=0)
    assert p.stdout == "alice\n"

    # the host key vmctl generated is pinned: known_hosts names it, and the
    # guest presents it
    kh = os.path.join(vm["work_dir"], "known_hosts")
    pub = open(os.path.join(vm["work_dir"], "ssh_host_ed25519_key.pub")).read().split()
    line = open(kh).read().split()
    assert line == ["vmctl-web", pub[0], pub[1]]

    # provision again: appended to the log
    p = qvm.run("provision", cwd=proj, timeout=T, check=0)
    assert "inline-out" in p.stdout
    log2 = open(os.path.join(vm["work_dir"], "provision.log")).read()
    assert log2.startswith(log) and log2.count("=== step 1/3: ") == 2

    # down, then up again: restarted and provisioned again
    p = qvm.run("down", cwd=proj, timeout=T, check=0)
    assert p.stdout == "[web] stopped\n"
    assert json.loads(qvm.run("status", "web", "--json").stdout)["state"] == "stopped"
    p = qvm.run("down", cwd=proj, timeout=T, check=0)
    assert p.stdout == "[web] not running: nothing to do\n"
    p = qvm.run("up", cwd=proj, timeout=T, check=0)
    assert up_phases(p.stdout) == ["boot", "ssh", "provision"]
    assert "(restarted)" in p.stdout
    p = qvm.run("up", cwd=proj, timeout=T, check=0)
    assert p.stdout == "[web] already running: skipped\n"

    # reload: a fresh VM (new id, new host key) from the current VMFile
    old_id = vm["id"]
    p = qvm.run("reload", "--no-provision", cwd=proj, timeout=T, check=0)
    assert "[web] destroyed" in p.stdout and "[web] reloaded in" in p.stdout
    assert up_phases(p.stdout) == ["overlay", "seed", "create", "boot"]
    vm2 = json.loads(qvm.run("status", "web", "--json", check=0).stdout)
    assert vm2["id"] != old_id and vm2["state"] == "running"
    p = qvm.run("ssh", "web", "--", "hostname", cwd=proj, timeout=T, check=0)
    assert p.stdout == "web-host\n"

    # a changed host key is refused, by libssh and so before the system ssh
    with open(kh, "w") as f:
        f.write("vmctl-web ssh-ed25519 "
                "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    p = qvm.run("ssh", "web", "--", "true", cwd=proj, timeout=T)
    assert p.returncode == 1
    assert p.stderr.startswith("error[vm_manager::ssh::host_key_mismatch]: "), p.stderr

    p = qvm.run("down", "--destroy", cwd=proj, timeout=T, check=0)
    assert p.stdout == "[web] destroyed\n"
    assert not os.path.exists(vm2["work_dir"])
    assert json.load(open(qvm.store_path))["vms"] == {}


TWO = """
vm "a" {
    image "guest.qcow2"
    memory 512
    provision "shell" {
        inline "echo never"
    }
}
vm "b" {
    image-url "URL" sha256="SHA"
    memory 512
    cloud-init {
        hostname "bee"
    }
    ssh {
        user "bob"
    }
    provision "shell" {
        inline "echo first"
    }
    provision "shell" {
        inline "echo about to fail; exit 7"
    }
    provision "shell" {
        inline "echo not reached"
    }
}
"""


@pytest.fixture
def image_server(tmp_path_factory, guest_image):
    """The guest image, zstd-compressed, served over HTTP on 127.0.0.1."""
    root = tmp_path_factory.mktemp("www")
    subprocess.run(["zstd", "-q", "-3", guest_image, "-o", str(root / "guest.qcow2.zst")],
                   check=True)
    srv = Server(str(root)).start()
    yield srv
    srv.stop()


def test_two_vms_name_and_failing_step(qvm, tmp_path, guest_image, image_server):
    url = image_server.url("guest.qcow2.zst")
    sha = hashlib.sha256(open(image_server.root + "/guest.qcow2.zst", "rb").read()).hexdigest()
    proj = write_project(tmp_path, guest_image, TWO.replace("URL", url).replace("SHA", sha))
    # ssh without a name is ambiguous with two VMs
    p = qvm.run("ssh", "--", "true", cwd=proj, timeout=T, check=1)
    assert "the VMFile defines 2 VMs" in p.stderr and "a, b" in p.stderr
    p = qvm.run("up", "--name", "b", cwd=proj, timeout=T)
    assert p.returncode == 1
    # the image came through the cache: downloaded once, decompressed, verified
    assert re.search(r"^\[b\] image\s+done in", p.stdout, re.M), p.stdout
    assert image_server.count("guest.qcow2.zst") == 1
    (cached,) = json.loads(qvm.run("image", "list", "--json", check=0).stdout)
    assert cached["url"] == url and cached["sha256"] == sha
    assert "first\n" in p.stdout and "about to fail\n" in p.stdout
    assert "not reached" not in p.stdout
    assert "--- step 2 FAILED with exit status 7" in p.stdout
    assert re.search(r"^error\[vm_manager::provision::failed\]: provision step 2 \(shell inline "
                     r"'echo about to fail; exit 7'\) failed with exit status 7$", p.stderr,
                     re.M), p.stderr
    assert "exit status 7" in p.stderr
    # only b exists, and it stays running for inspection
    vms = json.load(open(qvm.store_path))["vms"]
    assert list(vms) == ["b"]
    log = qvm.run("log", "b", "--provision", check=0).stdout
    assert "provisioning stopped at step 2/3" in log
    p = qvm.run("ssh", "b", "--", "id -un; hostname", cwd=proj, timeout=T, check=0)
    assert p.stdout == "bob\nbee\n"
    p = qvm.run("down", "--name", "b", "--destroy", cwd=proj, timeout=T, check=0)
    assert p.stdout == "[b] destroyed\n"
    # up again: a cache hit, no second download
    p = qvm.run("up", "--name", "b", "--no-provision", cwd=proj, timeout=T, check=0)
    assert image_server.count("guest.qcow2.zst") == 1
    qvm.run("down", "--name", "b", "--destroy", cwd=proj, timeout=T, check=0)
    p = qvm.run("down", "--name", "a", cwd=proj, timeout=T, check=0)
    assert p.stdout == "[a] does not exist: nothing to do\n"
    p = qvm.run("provision", "--name", "a", cwd=proj, timeout=T, check=1)
    assert "error[vm_manager::provision::failed]" in p.stderr


def test_vmfile_errors_change_nothing(qvm, tmp_path):
    (tmp_path / "VMFile.kdl").write_text('vm "x" {\n    image "missing.qcow2"\n    cpus 2\n}\n')
    for cmd in ("up", "down", "reload", "provision", "ssh"):
        p = qvm.run(cmd, cwd=tmp_path, timeout=60)
        assert p.returncode == 1, cmd
        assert "VMFile.kdl:3:5" in p.stderr and "did you mean `vcpus`" in p.stderr, p.stderr
    assert not os.path.exists(qvm.store_path) or json.load(open(qvm.store_path))["vms"] == {}
    empty = tmp_path / "empty"
    empty.mkdir()
    p = qvm.run("up", cwd=empty, timeout=60, check=1)
    assert p.stderr.startswith("error[vm_manager::vmfile::not_found]: ")
    assert "--file" in p.stderr
