# SPDX-License-Identifier: MIT
"""TAP networking end to end, with real packets: the test makes its own
network namespace with a bridge, and dnsmasq serving DHCP on it with a lease
file in a temporary directory, and runs vmctl inside it (`ip netns exec`).

As root, vmctl makes the TAP device itself (`-netdev tap`): `vmctl up`
boots the test guest, finds its IP in the lease file and provisions it over
that address; `vmctl status` finds the IP in the neighbour table alone,
then, with the table flushed, in the lease file alone; `vmctl ssh --
hostname` works; the discovery ends in `network::ip_discovery_timeout`
naming the MAC and every place searched when there is nothing to find; the
TAP device is gone after destroy and after a failed start; a missing bridge
is named with the command that makes it.

As an unprivileged user (nobody), QEMU's bridge helper makes the TAP device
(`-netdev bridge`): Debian's helper, which is not setuid, is refused with
the fix; so is a bridge that /etc/qemu/bridge.conf does not allow (written
by the test only when absent, and removed afterwards); a setuid-root copy of
the helper in the test's directory (VMCTL_BRIDGE_HELPER) boots the guest on
the bridge, and `vmctl ssh` reaches it.

Everything lives in the namespace; the namespace, dnsmasq (by pid) and the
TAP devices are gone afterwards.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import vmctl_bin  # noqa: E402
from guest import guest_image_path  # noqa: E402

T = 300  # one command may boot a guest under software emulation (load of 6)
BR = "vmtbr0"
NET = "10.213.7"
HELPER = "/usr/lib/qemu/qemu-bridge-helper"
BRIDGE_CONF = "/etc/qemu/bridge.conf"
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: makes a network namespace")


def sh(*args, check=True, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


class Net:
    """The namespace, its bridge and dnsmasq."""

    def __init__(self):
        self.ns = f"vmctl-tap-{os.getpid()}"
        # readable by the unprivileged user too (the lease file, the image)
        self.dir = tempfile.mkdtemp(prefix="vmt-tap-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.leases = os.path.join(self.dir, "dnsmasq.leases")
        self.dnsmasq = None

    def start(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns, "link", "add", BR, "type", "bridge")
        sh("ip", "-n", self.ns, "addr", "add", f"{NET}.1/24", "dev", BR)
        sh("ip", "-n", self.ns, "link", "set", BR, "up")
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        assert os.access(dnsmasq, os.X_OK), "dnsmasq is missing (tools/deps.txt: dnsmasq-base)"
        self.log = open(os.path.join(self.dir, "dnsmasq.log"), "w")
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, dnsmasq, "--no-daemon", "--conf-file=/dev/null",
             "--port=0", f"--interface={BR}", "--bind-interfaces", "--except-interface=lo",
             f"--dhcp-range={NET}.100,{NET}.199,255.255.255.0,12h",
             f"--dhcp-leasefile={self.leases}",
             f"--pid-file={os.path.join(self.dir, 'dnsmasq.pid')}",
             "--user=root", "--group=root", "--no-ping", "--dhcp-authoritative", "--log-dhcp"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "started" not in open(self.log.name).read():
            assert self.dnsmasq.poll() is None, open(self.log.name).read()
            assert time.monotonic() < deadline, open(self.log.name).read()
            time.sleep(0.1)

    def stop(self):
        if self.dnsmasq:
            # `ip netns exec` execs dnsmasq: this pid is dnsmasq's
            self.dnsmasq.terminate()
            try:
                self.dnsmasq.wait(10)
            except subprocess.TimeoutExpired:
                self.dnsmasq.kill()
                self.dnsmasq.wait(10)
            self.log.close()
        sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def exec_argv(self, *argv, user=None):
        pre = ["ip", "netns", "exec", self.ns]
        if user is not None:
            pre += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        return pre + list(argv)

    def taps(self):
        """The TUN/TAP devices in the namespace."""
        out = sh("ip", "-n", self.ns, "-d", "-j", "link", "show").stdout
        return [d["ifname"] for d in json.loads(out)
                if d.get("linkinfo", {}).get("info_kind") == "tun"]

    def lease_ip(self, mac, timeout=T):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                for line in open(self.leases):
                    f = line.split()
                    if len(f) >= 3 and f[1].lower() == mac.lower():
                        return f[2]
            except FileNotFoundError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"no lease for {mac}:\n{open(self.log.name).read()[-3000:]}")

    def neigh_has(self, mac):
        """Whether the namespace's IPv4 neighbour table has the MAC."""
        out = sh("ip", "-n", self.ns, "-4", "-j", "neigh", "show").stdout
        return any(e.get("lladdr", "").lower() == mac.lower() for e in json.loads(out))


@pytest.fixture(scope="module")
def net():
    n = Net()
    try:
        n.start()
        yield n
    finally:
        n.stop()
    assert n.ns not in sh("ip", "netns", "list").stdout
    assert not os.path.exists(n.dir)
    if n.dnsmasq:
        assert n.dnsmasq.poll() is not None


class NsVmctl:
    """vmctl run inside the namespace, as root or as another user."""

    def __init__(self, net, user=None):
        self.net = net
        self.user = user
        self.home = tempfile.mkdtemp(prefix="vmt-", dir="/tmp")
        if user is not None:
            os.chown(self.home, user, user)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("VMCTL_LOG", "VMCTL_BACKEND", "VMCTL_QEMU", "VMCTL_LEASES",
                                 "VMCTL_BRIDGE_HELPER", "VMCTL_IP_TIMEOUT")}
        self.env["XDG_DATA_HOME"] = self.home
        self.env["HOME"] = self.home
        self.bin = vmctl_bin()
        if user is not None:
            # the build tree may sit where the user cannot reach it (a home
            # directory of mode 0700): the front and vmctl-full beside it
            # (linked statically against the library) are copied out
            bindir = os.path.join(self.home, "bin")
            os.mkdir(bindir, 0o755)
            for name in ("vmctl", "vmctl-full"):
                shutil.copy2(os.path.join(os.path.dirname(self.bin), name), bindir)
            self.bin = os.path.join(bindir, "vmctl")

    def run(self, *args, env=None, timeout=T, cwd=None, check=None):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run(self.net.exec_argv(self.bin, *args, user=self.user),
                           capture_output=True, text=True, env=e, timeout=timeout,
                           cwd=cwd)
        if check is not None and p.returncode != check:
            raise AssertionError(f"vmctl {' '.join(args)}: exit {p.returncode}\n"
                                 f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def status(self, name, env=None):
        return json.loads(self.run("status", name, "--json", env=env, check=0).stdout)

    def cleanup(self):
        try:
            names = list(json.load(open(os.path.join(self.home, "vmctl", "vms.json")))["vms"])
        except FileNotFoundError:
            names = []
        for name in names:
            self.run("destroy", name, timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def image(net):
    """The test guest, copied where the unprivileged user can read it."""
    p = os.path.join(net.dir, "guest.qcow2")
    if not os.path.exists(p):
        shutil.copyfile(guest_image_path(), p)
        os.chmod(p, 0o644)
    return p


def qemu_args(vm):
    return open(f"/proc/{vm['pid']}/cmdline").read().split("\0")


def console(vm):
    try:
        return open(os.path.join(vm["work_dir"], "console.log"), errors="replace").read()
    except FileNotFoundError:
        return ""


VMFILE = """
vm "tapvm" {
    image "IMAGE"
    memory 256
    network "tap" {
        bridge "BR"
    }
    cloud-init {
        hostname "tap-host"
    }
    ssh {
        user "alice"
    }
    provision "shell" {
        inline "echo provisioned-on-$(hostname)"
    }
}
"""


def test_tap_as_root(net, image, tmp_path):
    v = NsVmctl(net)
    leases = {"VMCTL_LEASES": net.leases}
    try:
        (tmp_path / "VMFile.kdl").write_text(
            VMFILE.replace("IMAGE", image).replace("BR", BR))
        t0 = time.monotonic()
        p = v.run("up", cwd=tmp_path, env=dict(leases, VMCTL_LOG="network=debug"), check=0)
        up_s = time.monotonic() - t0
        vm = v.status("tapvm")
        mac = vm["mac_addr"]
        ip = net.lease_ip(mac, timeout=5)
        assert ip.startswith(NET + ".")
        # provisioned over the leased address (found wherever it was first:
        # the DHCP exchange may have put the guest in the neighbour table)
        assert "provisioned-on-tap-host\n" in p.stdout, p.stdout + p.stderr
        assert f"alice@{ip}:22" in p.stdout, p.stdout
        assert re.search(f"MAC {mac}: {re.escape(ip)} from the (neighbour table|lease file)",
                         p.stderr), p.stderr
        # the guest is on the bridge through vmctl's own TAP device
        args = qemu_args(vm)
        tap = [a for a in args if a.startswith("tap,id=net0,")]
        assert len(tap) == 1 and tap[0].endswith(",script=no,downscript=no"), args
        ifname = re.search(r"ifname=([^,]+)", tap[0]).group(1)
        assert len(ifname) <= 15 and ifname.startswith("vt-tapvm")
        assert net.taps() == [ifname]
        link = json.loads(sh("ip", "-n", net.ns, "-j", "link", "show", ifname).stdout)[0]
        assert link["master"] == BR and "UP" in link["flags"]

        # status: the neighbour table alone (SSH traffic put the guest there)
        assert net.neigh_has(mac)
        p = v.run("status", "tapvm", "--json", env={"VMCTL_LOG": "network=debug"}, check=0)
        assert json.loads(p.stdout)["ip"] == ip
        assert f"MAC {mac}: {ip} from the neighbour table" in p.stderr, p.stderr
        assert f"IP:          {ip}\n" in v.run("status", "tapvm", check=0).stdout

        # flushed: nothing without the lease file, the lease file alone with it
        sh("ip", "-n", net.ns, "neigh", "flush", "all")
        assert not net.neigh_has(mac)
        assert v.status("tapvm")["ip"] is None
        p = v.run("status", "tapvm", "--json", env=dict(leases, VMCTL_LOG="network=debug"),
                  check=0)
        assert json.loads(p.stdout)["ip"] == ip
        assert f"MAC {mac}: {ip} from the lease file {net.leases}" in p.stderr, p.stderr
        assert "from the neighbour table" not in p.stderr

        # nothing to find: the timeout, the MAC and every place searched
        t0 = time.monotonic()
        p = v.run("ssh", "tapvm", "--", "hostname", env={"VMCTL_IP_TIMEOUT": "2"})
        assert p.returncode == 1
        assert 2 <= time.monotonic() - t0 < 30
        assert "error[vm_manager::network::ip_discovery_timeout]: after 2 s" in p.stderr
        assert f"MAC {mac}" in p.stderr
        for place in ("the neighbour table", "/var/lib/misc/dnsmasq.leases",
                      "/var/lib/dnsmasq/", "/var/lib/libvirt/dnsmasq/"):
            assert place in p.stderr, p.stderr
        assert "VMCTL_LEASES" in p.stderr

        # ssh through the lease file's address
        p = v.run("ssh", "tapvm", "--", "hostname", cwd=tmp_path, env=leases, check=0)
        assert p.stdout == "tap-host\n"

        # destroy removes the TAP device
        v.run("destroy", "tapvm", timeout=60, check=0)
        assert net.taps() == []
        print(f"\nTAP as root: up (boot, DHCP, provision) in {up_s:.1f} s")

        # a start that fails removes the TAP device it made
        p = v.run("create", "--name", "bad", "--image", image, "--bridge", BR, "--start",
                  env={"VMCTL_QEMU": "false"})
        assert p.returncode == 1 and "QEMU of VM 'bad'" in p.stderr, p.stderr
        assert net.taps() == []
        # a missing bridge: named, with the command that makes it
        p = v.run("create", "--name", "nobr", "--image", image, "--bridge", "nosuchbr",
                  "--start")
        assert p.returncode == 1
        assert "bridge 'nosuchbr' does not exist" in p.stderr
        assert "ip link add nosuchbr type bridge" in p.stderr
        assert v.run("status", "nobr").returncode == 1  # nothing was created
        # a VM whose bridge went away is refused before it is touched
        sh("ip", "-n", net.ns, "link", "add", "vmtbr9", "type", "bridge")
        v.run("create", "--name", "gone", "--image", image, "--bridge", "vmtbr9", check=0)
        sh("ip", "-n", net.ns, "link", "del", "vmtbr9")
        p = v.run("start", "gone")
        assert p.returncode == 1 and "bridge 'vmtbr9' does not exist" in p.stderr, p.stderr
        assert v.status("gone")["state"] == "prepared"
        # an interface that is not a bridge
        p = v.run("create", "--name", "lobr", "--image", image, "--bridge", "lo", "--start")
        assert p.returncode == 1 and "'lo' is not a bridge" in p.stderr, p.stderr
        assert net.taps() == []
    finally:
        v.cleanup()
    assert net.taps() == []


@pytest.fixture
def bridge_conf():
    """Writes /etc/qemu/bridge.conf only when absent, and removes what it made."""
    if os.path.exists(BRIDGE_CONF):
        pytest.skip(f"{BRIDGE_CONF} exists: the test writes it only when absent")
    made_dir = not os.path.isdir("/etc/qemu")
    os.makedirs("/etc/qemu", exist_ok=True)

    def write(text):
        with open(BRIDGE_CONF, "w") as f:
            f.write(text)

    try:
        yield write
    finally:
        if os.path.exists(BRIDGE_CONF):
            os.unlink(BRIDGE_CONF)
        if made_dir:
            os.rmdir("/etc/qemu")
    assert not os.path.exists(BRIDGE_CONF)


def test_bridge_helper_as_user(net, image, bridge_conf):
    assert os.access(HELPER, os.X_OK), f"{HELPER} is missing (qemu-system-common)"
    v = NsVmctl(net, user=NOBODY)
    helper_dir = tempfile.mkdtemp(prefix="vmt-helper-", dir="/tmp")
    os.chmod(helper_dir, 0o755)
    copy = os.path.join(helper_dir, "qemu-bridge-helper")
    shutil.copyfile(HELPER, copy)
    os.chmod(copy, 0o4755)  # setuid root: what the helper needs to make a TAP device
    assert os.stat(copy).st_mode & stat.S_ISUID and os.stat(copy).st_uid == 0
    env = {"VMCTL_LEASES": net.leases, "VMCTL_ACCEL": "tcg"}
    create = ("create", "--name", "helpvm", "--image", image, "--bridge", BR, "--memory",
              "256", "--start")

    def refused(env):
        """A create refused before anything is made (no VM, no TAP device)."""
        p = v.run(*create, env=env)
        assert p.returncode == 1
        assert net.taps() == []
        assert v.run("status", "helpvm").returncode == 1
        return p.stderr
    try:
        # Debian's helper as installed cannot make a TAP device
        if not (os.stat(HELPER).st_mode & stat.S_ISUID):
            err = refused(env)
            assert "neither setuid root nor given file capabilities" in err, err
            assert f"chmod u+s {HELPER}" in err
        env["VMCTL_BRIDGE_HELPER"] = copy
        # no bridge.conf: the line to add
        err = refused(env)
        assert f"{BRIDGE_CONF} does not exist" in err, err
        assert f"allow {BR}" in err
        # another bridge allowed only
        bridge_conf("# test\nallow br-other\n")
        err = refused(env)
        assert f"may not use bridge '{BR}': {BRIDGE_CONF} does not allow it" in err, err
        assert f"add the line `allow {BR}` to {BRIDGE_CONF}" in err
        # allowed through an include, as the helper reads it
        inc = os.path.join(helper_dir, "more.conf")
        with open(inc, "w") as f:
            f.write(f"allow {BR}\n")
        bridge_conf(f"allow br-other\ninclude {inc}\n")
        t0 = time.monotonic()
        v.run(*create, env=env, check=0)
        vm = v.status("helpvm", env=env)
        assert vm["state"] == "running"
        args = qemu_args(vm)
        assert f"bridge,id=net0,br={BR},helper={copy}" in args, args
        assert os.stat(f"/proc/{vm['pid']}").st_uid == NOBODY
        # the helper's TAP device is on the bridge
        taps = net.taps()
        assert len(taps) == 1, taps
        link = json.loads(sh("ip", "-n", net.ns, "-j", "link", "show", taps[0]).stdout)[0]
        assert link["master"] == BR
        ip = net.lease_ip(vm["mac_addr"])
        p = v.run("ssh", "helpvm", "--", "hostname", env=env, check=0)
        assert p.stdout == "helpvm\n", p.stderr + console(vm)[-2000:]
        assert v.status("helpvm", env=env)["ip"] == ip
        print(f"\nbridge helper as nobody: create to ssh in {time.monotonic() - t0:.1f} s")
        v.run("destroy", "helpvm", env=env, timeout=60, check=0)
        assert net.taps() == []
    finally:
        v.cleanup()
        shutil.rmtree(helper_dir, ignore_errors=True)
    assert net.taps() == []
