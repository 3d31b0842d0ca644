# SPDX-License-Identifier: MIT
"""The libvirt backend end to end, with a real libvirtd.

The test makes a network namespace and starts virtlogd, libvirtd and an
sshd inside it, so libvirt's bridge (virbr0), its dnsmasq and every guest
address exist only there. One VMFile places one VM on qemu:///system and
one on qemu+ssh://root@127.0.0.1:PORT/system through that sshd (the remote
path: the base image uploaded over libvirt's stream, SSH to the guest
through the host). Both come up provisioned; `vmctl ssh`, `list` and
`down --destroy` are checked against what virsh sees. Every daemon is
stopped by the pid it wrote, the network destroyed, the namespace removed.
Needs root; a missing libvirtd or sshd fails the test (tools/deps.txt).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import guest_image_path  # noqa: E402

T = 600  # `up` of two guests under software emulation, on a loaded machine
SOCK = "/run/libvirt/libvirt-sock"
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
POOL_DIR = "/var/lib/libvirt/images"
SSH_PORT = 2222


def need(tool):
    path = shutil.which(tool) or (os.path.exists(tool) and tool)
    assert path, f"{tool} is missing: install the packages in tools/deps.txt"
    return path


def sh(*args, check=True, timeout=120, ns=None, **kw):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def virsh(*args, check=True):
    return sh("virsh", "-q", "-c", "qemu:///system", *args, check=check)


def stop_pidfile(path, timeout=20):
    try:
        pid = int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 9)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """libvirtd + virtlogd + sshd inside a fresh network namespace."""
    assert os.geteuid() == 0, "the libvirt e2e test runs libvirtd: it needs root"
    libvirtd = need("/usr/sbin/libvirtd")
    virtlogd = need("/usr/sbin/virtlogd")
    sshd = need("/usr/sbin/sshd")
    need("virsh")
    need("ssh-keygen")
    assert not os.path.exists(SOCK), f"{SOCK} exists: another libvirtd runs on this machine"
    d = tmp_path_factory.mktemp("lab")
    ns = f"vmctl-lv-{os.getpid()}"
    pids = {n: str(d / f"{n}.pid") for n in ("virtlogd", "libvirtd", "sshd")}
    had_run_dir = os.path.exists("/run/libvirt")
    sh("ip", "netns", "add", ns)
    created_pool = net_started = False
    try:
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh(virtlogd, "-d", "-p", pids["virtlogd"], ns=ns)
        # The daemon's own qemu.conf, seen only by it (a bind mount in the
        # mount namespace of its `ip netns exec`): the system's, with
        # libvirt's private /dev per QEMU off. libvirt cannot build that /dev
        # where / is a chroot (QEMU then finds no /dev/urandom), and vmctl
        # has no part in it. The system's file is not touched.
        conf = QEMU_CONF.read_text() if QEMU_CONF.exists() else ""
        (d / "qemu.conf").write_text(conf + "\nnamespaces = [ ]\n")
        sh("sh", "-c", f'mount --bind "{d}/qemu.conf" {QEMU_CONF} && '
           f'exec {libvirtd} -d -p "{pids["libvirtd"]}"', ns=ns)
        wait_for(lambda: virsh("version", check=False).returncode == 0, 60, "libvirtd")
        if virsh("net-info", "default").stdout.split("Active:")[1].split()[0] != "yes":
            virsh("net-start", "default")
            net_started = True
        if virsh("pool-info", "default", check=False).returncode != 0:
            # transient: gone with this libvirtd
            virsh("pool-create-as", "default", "dir", "--target", POOL_DIR)
            created_pool = True
        # sshd for the qemu+ssh URI: root by key only, its own files
        key = d / "id_ed25519"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key"))
        (d / "authorized_keys").write_text((d / "id_ed25519.pub").read_text())
        os.chmod(d / "authorized_keys", 0o600)
        (d / "sshd_config").write_text(
            f"Port {SSH_PORT}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n"
            f"PidFile {pids['sshd']}\nAuthorizedKeysFile {d}/authorized_keys\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "AllowTcpForwarding yes\nSubsystem sftp internal-sftp\n")
        os.makedirs("/run/sshd", exist_ok=True)
        sh(sshd, "-f", str(d / "sshd_config"), ns=ns)
        wait_for(lambda: os.path.exists(pids["sshd"]), 20, "sshd")
        uri = (f"qemu+ssh://root@127.0.0.1:{SSH_PORT}/system?keyfile={key}&no_verify=1")
        yield {"ns": ns, "dir": d, "remote_uri": uri}
    finally:
        # libvirt's dnsmasq outlives libvirtd: destroy the network first
        if net_started:
            virsh("net-destroy", "default", check=False)
        if created_pool:
            virsh("pool-destroy", "default", check=False)
        for n in ("sshd", "libvirtd", "virtlogd"):
            stop_pidfile(pids[n])
        sh("ip", "netns", "del", ns, check=False)
        assert not os.path.exists(f"/run/netns/{ns}")
        # what this libvirtd left: its runtime directory, the test VMs' logs
        if not had_run_dir:
            shutil.rmtree("/run/libvirt", ignore_errors=True)
        for vm in ("lv-here", "lv-there", "lv-c"):
            for log in (f"{vm}.log", f"{vm}-console.log"):
                try:
                    os.unlink(os.path.join("/var/log/libvirt/qemu", log))
                except FileNotFoundError:
                    pass


VMFILE = """
host "here" uri="qemu:///system"
host "there" uri="{remote}"

vm "lv-here" {{
    image "guest.qcow2"
    memory 256
    host "here"
    cloud-init {{
        hostname "lv-here-host"
    }}
    ssh {{
        user "alice"
    }}
    provision "shell" {{
        inline "echo provisioned-$(hostname)"
    }}
}}

vm "lv-there" {{
    image "guest.qcow2"
    memory 256
    host "there"
    cloud-init {{
        hostname "lv-there-host"
    }}
    ssh {{
        user "alice"
    }}
    provision "shell" {{
        inline "echo provisioned-$(hostname)"
    }}
}}
"""


def our_volumes():
    return [v.split()[0] for v in virsh("vol-list", "default").stdout.splitlines()
            if v.split() and v.split()[0].startswith("vmctl-lv")]


def test_two_hosts(lab, tmp_path, data_home):
    image = guest_image_path()
    os.symlink(image, tmp_path / "guest.qcow2")
    (tmp_path / "VMFile.kdl").write_text(VMFILE.format(remote=lab["remote_uri"]))
    v = Vmctl(data_home, backend=None)
    v.env.pop("LIBVIRT_DEFAULT_URI", None)
    v.env["VMCTL_ACCEL"] = "tcg"  # the test guest under software emulation
    ns = lab["ns"]

    def run(*args, check=0, timeout=T, input=None):
        p = sh(v.bin, *args, check=False, timeout=timeout, ns=ns, env=v.env, cwd=tmp_path,
               input=input)
        if check is not None and p.returncode != check:
            raise AssertionError(f"vmctl {' '.join(args)}: exit {p.returncode}\n"
                                 f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    try:
        # both VMs at once (parallel up across hosts): the base image goes up
        # once, over libvirt's stream through ssh or over the local socket,
        # whichever VM takes the pool's lock first; the other finds it there
        t0 = time.time()
        p = run("up")
        took = time.time() - t0
        for name in ("lv-there", "lv-here"):
            assert f"[{name}] provisioned-{name}-host\n" in p.stdout, p.stdout
            # the phases of a libvirt create, the upload first
            assert re.search(rf"^\[{name}\] upload\s+done in", p.stdout, re.M), p.stdout
        summary = p.stdout[p.stdout.index("\nsummary: "):]
        assert "summary: 2 VMs" in summary and " 2 ok" in summary, summary
        print(f"\nboth up in {took:.1f} s\n{p.stdout}", file=sys.stderr)
        assert "software emulation" not in p.stderr  # VMCTL_ACCEL=tcg: asked for
        # the base image went up once per host: one volume named by its sha256
        sha = sh("sha256sum", image).stdout.split()[0]
        assert sha in virsh("vol-list", "default").stdout
        assert sorted(our_volumes()) == ["vmctl-lv-here-seed.iso", "vmctl-lv-here.qcow2",
                                         "vmctl-lv-there-seed.iso", "vmctl-lv-there.qcow2"]
        doms = virsh("list", "--name").stdout.split()
        assert "lv-here" in doms and "lv-there" in doms
        # the domain as vmctl built it, seen by libvirt
        xml = virsh("dumpxml", "lv-there").stdout
        assert "machine='pc-q35" in xml and "bus='virtio'" in xml
        assert "<source network='default'" in xml

        for name in ("lv-here", "lv-there"):
            p = run("ssh", name, "--", "hostname")
            assert p.stdout == f"{name}-host\n"
            # the serial console through libvirt's stream: input reaches the
            # guest's shell, end of input detaches
            p = run("console", name, input="echo piped-$((3+4))\n", timeout=60)
            assert "piped-7" in p.stdout, p.stdout + p.stderr
        st = json.loads(run("status", "lv-there", "--json").stdout)
        assert st["backend"] == "libvirt" and st["state"] == "running"
        assert st["host"] == "there" and st["uri"] == lab["remote_uri"]
        assert "URI:" in run("status", "lv-there").stdout
        # the guest's address as libvirt knows it (its lease on the host's
        # network), the one vmctl ssh went to
        for name in ("lv-here", "lv-there"):
            ip = json.loads(run("status", name, "--json").stdout)["ip"]
            assert ip and ip.startswith("192.168.122."), ip

        lines = run("list").stdout.splitlines()
        assert lines[0].split()[:3] == ["NAME", "BACKEND", "HOST"]
        rows = {l.split()[0]: l.split() for l in lines[1:]}
        assert rows["lv-here"][1:3] == ["libvirt", "here"]
        assert rows["lv-there"][1:3] == ["libvirt", "there"]
        assert rows["lv-here"][-1] == rows["lv-there"][-1] == "running"
        only = run("list", "--host", "there").stdout.splitlines()
        assert [l.split()[0] for l in only[1:]] == ["lv-there"]

        # down: an ACPI shutdown the guest obeys; the domain stays, shut off
        p = run("down", "--name", "lv-there")
        assert p.stdout == "[lv-there] stopped\n"
        assert "shut off" in virsh("domstate", "lv-there").stdout
        assert json.loads(run("status", "lv-there", "--json").stdout)["state"] == "stopped"
        p = run("up", "--name", "lv-there")
        assert "(restarted)" in p.stdout and "provisioned-lv-there-host" in p.stdout

        # stopped behind vmctl's back: the state is libvirt's, not the record's
        virsh("destroy", "lv-here")
        assert json.loads(run("status", "lv-here", "--json").stdout)["state"] == "stopped"
        p = run("up", "--name", "lv-here")
        assert "provisioned-lv-here-host" in p.stdout

        p = run("down", "--destroy")
        assert "[lv-here] destroyed" in p.stdout and "[lv-there] destroyed" in p.stdout
        assert virsh("list", "--all", "--name").stdout.split() == []
        assert our_volumes() == []
        # what stays is the host's copy of the base image, for the next VMs
        left = [v.split()[0] for v in virsh("vol-list", "default").stdout.splitlines()
                if v.split()]
        assert left == [sha], left
        assert json.loads(run("list", "--json").stdout) == []
    finally:
        run("down", "--destroy", check=None, timeout=120)
        # the base image is the host's cache of it; this test's host goes away
        for vol in virsh("vol-list", "default", check=False).stdout.splitlines():
            if vol.split() and re.fullmatch(r"[0-9a-f]{64}", vol.split()[0]):
                virsh("vol-delete", "--pool", "default", vol.split()[0], check=False)


def test_create_connect_and_errors(lab, tmp_path):
    """`create --connect`, and libvirt's refusals with their hints: a name
    another client already uses on the host, a pool the host lacks, a host
    that runs no libvirt. Nothing boots here."""
    image = guest_image_path()
    ns = lab["ns"]
    homes = [tempfile.mkdtemp(prefix="vmt-", dir="/tmp") for _ in range(2)]
    mine, other = (Vmctl(h, backend=None) for h in homes)
    for v in (mine, other):
        v.env.pop("LIBVIRT_DEFAULT_URI", None)
        v.env["VMCTL_ACCEL"] = "tcg"

    def run(v, *args, check=0):
        p = sh(v.bin, *args, check=False, timeout=T, ns=ns, env=v.env, cwd=tmp_path)
        if check is not None and p.returncode != check:
            raise AssertionError(f"vmctl {' '.join(args)}: exit {p.returncode}\n"
                                 f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    try:
        p = run(mine, "create", "--name", "lv-c", "--image", image, "--connect",
                "qemu:///system")
        assert "(libvirt backend)" in p.stdout
        assert "shut off" in virsh("domstate", "lv-c").stdout
        assert sorted(our_volumes()) == ["vmctl-lv-c-seed.iso", "vmctl-lv-c.qcow2"]
        st = json.loads(run(mine, "status", "lv-c", "--json").stdout)
        assert st["state"] == "prepared" and st["uri"] == "qemu:///system"
        assert st["pool"] == "default" and st["host"] is None

        # the same name from another vmctl: the host's domain is not touched
        p = run(other, "create", "--name", "lv-c", "--image", image, "--connect",
                "qemu:///system", check=1)
        assert "error[vm_manager::vm::already_exists]" in p.stderr
        assert "a domain named 'lv-c' already exists on qemu:///system" in p.stderr
        assert "virsh undefine" in p.stderr
        assert json.loads(run(other, "list", "--json").stdout) == []
        assert "shut off" in virsh("domstate", "lv-c").stdout

        # a pool the host does not have: libvirt's message and the hint
        (tmp_path / "VMFile.kdl").write_text(
            'host "h" uri="qemu:///system" pool="nopool"\n'
            f'vm "lv-p" {{\n    image "{image}"\n    host "h"\n}}\n')
        p = run(other, "up", check=1)
        assert "no storage pool 'nopool' on qemu:///system" in p.stderr
        assert "pool-define-as" in p.stderr
        assert json.loads(run(other, "list", "--json").stdout) == []

        # no libvirt daemon behind the URI
        p = run(other, "create", "--name", "lv-x", "--image", image, "--connect",
                "qemu+unix:///system?socket=/nonexistent/sock", check=1)
        assert "cannot connect to libvirt at" in p.stderr
        assert "unreachable" in p.stderr

        run(mine, "destroy", "lv-c")
        assert "lv-c" not in virsh("list", "--all", "--name").stdout.split()
        assert our_volumes() == []
    finally:
        for v in (mine, other):
            run(v, "down", "--destroy", check=None)
        run(mine, "destroy", "lv-c", check=None)
        for h in homes:
            shutil.rmtree(h, ignore_errors=True)
        for vol in virsh("vol-list", "default", check=False).stdout.splitlines():
            if vol.split() and re.fullmatch(r"[0-9a-f]{64}", vol.split()[0]):
                virsh("vol-delete", "--pool", "default", vol.split()[0], check=False)
