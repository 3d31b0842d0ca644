# SPDX-License-Identifier: MIT
"""The test guest booted with plain QEMU (TCG) and a seed made by libvmm.

Proves the guest image, the seed (cloud-config, meta-data, ISO) and the keys
together, before any vmctl code is involved: hostname and user come from the
seed, the host key the guest presents is the one in the seed (OpenSSH with
StrictHostKeyChecking=yes and a known_hosts line from vmm_known_hosts_line),
SFTP works, ACPI power-off works, and the ignore-acpi test variant ignores it.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

import guest  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(HERE))
BOOT_TIMEOUT = float(os.environ.get("VMCTL_TEST_BOOT_TIMEOUT", "150"))



def mkseed_bin():
    if os.environ.get("VMCTL_MKSEED"):
        return os.environ["VMCTL_MKSEED"]
    vmctl = os.environ.get("VMCTL_BIN", os.path.join(SRCDIR, "build", "src", "vmctl"))
    return os.path.join(os.path.dirname(os.path.dirname(vmctl)), "tests", "tools", "mkseed")


class Qmp:
    """Just enough QMP: handshake, then commands with a timeout."""

    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.f = self.sock.makefile("rw")
        assert "QMP" in json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError("QMP %s: %s" % (name, reply["error"]))

    def close(self):
        self.f.close()
        self.sock.close()


class Vm:
    def __init__(self, image, workdir, append=None, hostname="e2e-host", user="tester",
                 seed_if="ide"):
        self.dir = workdir
        self.port = guest.free_port()
        self.user = user
        self.hostname = hostname
        args = [mkseed_bin(), "--dir", workdir, "--hostname", hostname, "--user", user,
                "--port", str(self.port)]
        if append:
            args += ["--append", append]
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        self.seed = os.path.join(workdir, "seed.iso")
        self.key = os.path.join(workdir, "id_ed25519_generated")
        self.known_hosts = os.path.join(workdir, "known_hosts")
        self.overlay = os.path.join(workdir, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image, "-F", "qcow2",
                        self.overlay], check=True)
        self.console = os.path.join(workdir, "console.log")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            guest.qemu_args(self.overlay, self.seed, self.port, workdir, seed_if=seed_if),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.qmp = None

    def console_text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_ssh(self):
        try:
            return guest.wait_ssh_banner(self.port, timeout=BOOT_TIMEOUT)
        except TimeoutError:
            pytest.fail("no SSH banner; console:\n" + self.console_text()[-3000:])

    def ssh_opts(self):
        return ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + self.known_hosts,
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30",
                "-o", "IdentitiesOnly=yes", "-i", self.key]

    def ssh(self, command, user=None, check=True):
        p = subprocess.run(["ssh", *self.ssh_opts(), "-p", str(self.port),
                            "%s@127.0.0.1" % (user or self.user), command],
                           capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, "ssh %r: exit %d\n%s" % (command, p.returncode, p.stderr)
        return p

    def connect_qmp(self):
        if not self.qmp:
            self.qmp = Qmp(os.path.join(self.dir, "qmp.sock"))
        return self.qmp

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self):
        if self.qmp:
            try:
                self.qmp.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def image():
    return guest.guest_image_path()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="vmg-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_guest_boots_from_our_seed(image, workdir):
    vm = Vm(image, workdir)
    try:
        banner_s = vm.wait_ssh()
        print("SSH banner %.1f s after QEMU started" % banner_s)

        # who and where: from the seed; the host key: the one we put in the seed
        p = vm.ssh("hostname; id -un; sudo -n id -u")
        assert p.stdout.split() == [vm.hostname, vm.user, "0"]
        console = vm.console_text()
        assert guest.READY_LINE in console
        assert "vmctl-guest: ssh: host key from seed" in console

        # root login is disabled (disable_root: true)
        p = vm.ssh("true", user="root", check=False)
        assert p.returncode != 0

        # SFTP, both with sftp and scp (which uses SFTP by default)
        src = os.path.join(workdir, "up.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(100000))
        back = os.path.join(workdir, "back.bin")
        p = subprocess.run(["sftp", *vm.ssh_opts(), "-P", str(vm.port), "-b", "-",
                            "%s@127.0.0.1" % vm.user],
                           input="put %s up.bin\nget up.bin %s\n" % (src, back),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        with open(src, "rb") as a, open(back, "rb") as b:
            assert a.read() == b.read()
        p = subprocess.run(["scp", "-s", *vm.ssh_opts(), "-P", str(vm.port), src,
                            "%s@127.0.0.1:copy.bin" % vm.user],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert vm.ssh("wc -c < copy.bin").stdout.strip() == "100000"

        # a known_hosts pinning another key makes ssh refuse: the check above
        # really compares keys
        other = os.path.join(workdir, "other")
        p = subprocess.run([mkseed_bin(), "--dir", other, "--port", str(vm.port)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        pinned, vm.known_hosts = vm.known_hosts, os.path.join(other, "known_hosts")
        p = vm.ssh("true", check=False)
        assert p.returncode != 0
        assert "HOST IDENTIFICATION HAS CHANGED" in p.stderr, p.stderr
        vm.known_hosts = pinned

        # ACPI power button: the guest powers off by itself
        qmp = vm.connect_qmp()
        assert qmp.cmd("query-status")["status"] == "running"
        t = time.monotonic()
        qmp.cmd("system_powerdown")
        assert vm.wait_exit(60), "guest ignored system_powerdown:\n" + vm.console_text()[-2000:]
        print("ACPI power-off took %.1f s" % (time.monotonic() - t))
        assert "ACPI power button" in vm.console_text()
    finally:
        vm.kill()


def test_ignore_acpi_variant(image, workdir):
    vm = Vm(image, workdir, append=guest.IGNORE_ACPI, hostname="stubborn", seed_if="virtio")
    try:
        vm.wait_ssh()
        assert vm.ssh("hostname").stdout.strip() == "stubborn"
        assert "acpi: ignoring the power button" in vm.console_text()
        qmp = vm.connect_qmp()
        qmp.cmd("system_powerdown")
        assert not vm.wait_exit(10), "guest powered off although it should ignore ACPI"
        assert qmp.cmd("query-status")["status"] == "running"
        assert vm.ssh("true").returncode == 0
    finally:
        vm.kill()
