# SPDX-License-Identifier: MIT
"""Several VMs of a VMFile at once, end to end (real QEMU, the test guest):
three VMs with depends-on come up with the order visible in the time each
line arrives, every line prefixed and whole; `down` takes them in reverse;
a VM with a failing provisioner fails while the others come up and its
dependant is skipped (exit 1, the summary says so); Ctrl-C in the middle
of `up` stops at the next step, leaves no QEMU that vms.json does not
record and a vms.json that parses."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import guest_image_path  # noqa: E402

T = 900  # three guests booting at once under software emulation, on a busy host


@pytest.fixture(scope="module")
def guest_image():
    return guest_image_path()


def qemu_pids(data_dir):
    """pid -> command line of every qemu-system process using data_dir."""
    res = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and b"qemu-system" in os.path.basename(cmd[0]) and \
                any(data_dir.encode() in a for a in cmd):
            res[int(pid)] = cmd
    return res


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
        v.run("destroy", name, timeout=120)
    assert qemu_pids(v.data_dir) == {}


def vm(name, body="", provision=("echo NAME-ready",)):
    steps = "".join(f'    provision "shell" {{\n        inline "{p}"\n    }}\n'
                    for p in provision).replace("NAME", name)
    return (f'vm "{name}" {{\n    image "guest.qcow2"\n    memory 512\n'
            f'    cloud-init {{\n        hostname "{name}"\n    }}\n'
            f'    ssh {{\n        user "alice"\n    }}\n{steps}{body}}}\n')


def project(tmp_path, guest_image, text):
    os.symlink(guest_image, tmp_path / "guest.qcow2")
    (tmp_path / "VMFile.kdl").write_text(text)
    return tmp_path


class Run:
    """vmctl running, its output read as it comes: (seconds, line) each."""

    def __init__(self, qvm, cwd, *args):
        self.p = subprocess.Popen([qvm.bin, *args], cwd=cwd, env=qvm.env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.t0 = time.monotonic()
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(f, dst), daemon=True)
                        for f, dst in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    def _read(self, f, dst):
        for line in f:
            dst.append((time.monotonic() - self.t0, line))

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for _, line in self.out):
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in {''.join(l for _, l in self.out)}")

    def finish(self, timeout):
        rc = self.p.wait(timeout=timeout)
        for t in self.threads:
            t.join(10)
        return rc

    def when(self, pattern):
        return next(t for t, line in self.out if re.search(pattern, line))

    def index(self, pattern):
        return next(i for i, (_, line) in enumerate(self.out) if re.search(pattern, line))


def check_lines(run, names):
    """Every line whole (ends with a newline) and prefixed, up to the
    summary; the summary's rows {name: result}."""
    text = "".join(line for _, line in run.out)
    body, sep, tail = text.partition("\nsummary: ")
    assert sep, text
    for line in body.splitlines(keepends=True) + [l for _, l in run.err]:
        assert line.endswith("\n"), line
        m = re.match(r"^\[([a-z]+)\] \S", line)
        if not (m and m.group(1) in names):
            assert line.startswith("vmctl: "), line  # Ctrl-C notices
    rows = {}
    for row in tail.splitlines()[1:]:
        m = re.match(r"^  (\S+)\s+(\S+)  (.*)$", row)
        assert m, row
        rows[m.group(1)] = m.group(3)
    return tail.splitlines()[0], rows


def test_three_vms_with_depends_on(qvm, tmp_path, guest_image):
    text = (vm("db", provision=("echo db-ready; date +%s",)) +
            vm("cache", provision=("echo cache-ready; printf no-newline",)) +
            vm("web", '    depends-on "db" "cache"\n'))
    proj = project(tmp_path, guest_image, text)
    run = Run(qvm, proj, "up")
    assert run.finish(T) == 0, (run.out, run.err)
    head, rows = check_lines(run, {"db", "cache", "web"})
    assert head.endswith(": 3 ok"), head
    assert rows == {n: "up (created)" for n in ("db", "cache", "web")}
    # provisioner output streamed, prefixed; a last line without its newline
    # is a whole line too
    lines = [line for _, line in run.out]
    assert "[db] db-ready\n" in lines and "[cache] cache-ready\n" in lines
    assert "[cache] no-newline\n" in lines
    assert any(re.fullmatch(r"\[db\] \d{9,}\n", line) for line in lines)
    # db and cache at the same time: each started before the other was up
    assert run.index(r"^\[cache\] ") < run.index(r"^\[db\] up in ")
    assert run.index(r"^\[db\] ") < run.index(r"^\[cache\] up in ")
    # web only once both were up and provisioned
    web_starts = run.when(r"^\[web\] ")
    assert web_starts >= run.when(r"^\[db\] provision\s+done")
    assert web_starts >= run.when(r"^\[cache\] provision\s+done")
    assert run.index(r"^\[web\] ") > run.index(r"^\[db\] up in ")
    assert run.index(r"^\[web\] ") > run.index(r"^\[cache\] up in ")
    vms = json.load(open(qvm.store_path))["vms"]
    assert {n: v["state"] for n, v in vms.items()} == {n: "running" for n in rows}
    assert len(qemu_pids(qvm.data_dir)) == 3
    # down: web first, then the two it depended on
    run = Run(qvm, proj, "down")
    assert run.finish(T) == 0, (run.out, run.err)
    head, rows = check_lines(run, {"db", "cache", "web"})
    assert rows == {n: "stopped" for n in ("web", "db", "cache")}
    assert run.when(r"^\[web\] stopped") <= run.when(r"^\[db\] stopped")
    assert run.when(r"^\[web\] stopped") <= run.when(r"^\[cache\] stopped")
    assert qemu_pids(qvm.data_dir) == {}


def test_a_failing_provisioner_fails_one_vm(qvm, tmp_path, guest_image):
    text = (vm("good", provision=("echo fine",)) +
            vm("bad", provision=("echo about to fail; exit 3", "echo not reached")) +
            vm("after", '    depends-on "bad"\n'))
    proj = project(tmp_path, guest_image, text)
    run = Run(qvm, proj, "up")
    assert run.finish(T) == 1, (run.out, run.err)
    head, rows = check_lines(run, {"good", "bad", "after"})
    assert head.endswith(": 1 ok, 1 failed, 1 skipped"), head
    assert rows["good"] == "up (created)"
    assert rows["bad"] == ("FAILED: provision step 1 (shell inline 'echo about to fail; "
                           "exit 3') failed with exit status 3")
    assert rows["after"] == "skipped (dependency bad failed)"
    err = [line for _, line in run.err]
    assert "[bad] error[vm_manager::provision::failed]: provision step 1 (shell inline " \
        "'echo about to fail; exit 3') failed with exit status 3\n" in err
    out = [line for _, line in run.out]
    assert "[bad] about to fail\n" in out and "[good] fine\n" in out
    assert not any("not reached" in line or line.startswith("[after]") for line in out)
    # the failed VM stays, running, for `vmctl log` and a retry
    vms = json.load(open(qvm.store_path))["vms"]
    assert {n: v["state"] for n, v in vms.items()} == {"good": "running", "bad": "running"}


def test_ctrl_c_in_the_middle_of_up(qvm, tmp_path, guest_image):
    text = vm("a") + vm("b") + vm("c", '    depends-on "a"\n')
    proj = project(tmp_path, guest_image, text)
    run = Run(qvm, proj, "up")
    # both QEMUs run; the guests are not up yet (SSH comes seconds later)
    run.wait_for(r"^\[a\] boot\s+done", T)
    run.wait_for(r"^\[b\] boot\s+done", T)
    run.p.send_signal(signal.SIGINT)
    assert run.finish(300) == 130, (run.out, run.err)
    head, rows = check_lines(run, {"a", "b", "c"})
    assert "vmctl: interrupted: starting no more VMs; stopping " in "".join(
        line for _, line in run.err)
    for name in ("a", "b"):
        # stopped while waiting for SSH; or, on a slow host where the
        # signal came late, while or after provisioning
        assert rows[name] in ("interrupted (running, not provisioned: "
                              f"`vmctl provision --name {name}`)", "up (created)"), rows
    # c waited for a; only if a was already up when the signal came did c start
    assert rows["c"] in ("skipped (dependency a interrupted)",
                         "not started (interrupted)") or \
        rows["c"].startswith("interrupted (") and rows["a"] == "up (created)", rows
    # vms.json is whole and records every QEMU that runs: none is orphaned
    vms = json.load(open(qvm.store_path))["vms"]
    assert {"a", "b"} <= set(vms) <= {"a", "b", "c"}
    assert all(v["state"] == "running" for v in vms.values()), vms
    assert sorted(qemu_pids(qvm.data_dir)) == sorted(v["pid"] for v in vms.values())
    listed = qvm.run("list", check=0).stdout
    assert re.search(r"^a .* running$", listed, re.M) and re.search(r"^b .* running$", listed,
                                                                   re.M), listed
    # and `vmctl provision` finishes the job
    p = qvm.run("provision", "--name", "a", "--no-deps", cwd=proj, timeout=T, check=0)
    assert "a-ready\n" in p.stdout
