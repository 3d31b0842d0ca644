# SPDX-License-Identifier: MIT
"""The declarative commands over several VMs, on the noop backend: -j and
--parallel, --fail-fast, depends-on order (up, down), --name with and
without its dependencies, every line prefixed with its VM, the summary,
the exit status, a failed dependency skipping its dependants, an image-url
shared by three VMs downloaded once, and Ctrl-C in the middle of `up`."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from httpserver import Server  # noqa: E402

THREE = """
vm "web" {
    image "IMAGE"
    depends-on "db" "cache"
}
vm "cache" {
    image "IMAGE"
    depends-on "db"
}
vm "db" {
    image "IMAGE"
}
"""

# db cannot be provisioned on noop (no guest): it fails, web is skipped,
# cache (independent) comes up
FAILING = """
vm "web" {
    image "IMAGE"
    depends-on "db"
}
vm "cache" {
    image "IMAGE"
}
vm "db" {
    image "IMAGE"
    ssh { user "u"; }
    provision "shell" { inline "true"; }
}
"""


def project(tmp_path, image, body):
    (tmp_path / "VMFile.kdl").write_text(body.replace("IMAGE", image))
    return tmp_path


def split(stdout):
    """The prefixed lines and the summary rows {name: (time, result)}."""
    body, sep, tail = stdout.partition("\nsummary: ")
    assert sep, stdout
    lines = body.splitlines()
    rows = {}
    head, *table = tail.splitlines()
    for row in table:
        m = re.match(r"^  (\S+)\s+(\S+)  (.*)$", row)
        assert m, row
        rows[m.group(1)] = (m.group(2), m.group(3))
    return lines, head, rows


def assert_prefixed(lines, names):
    for line in lines:
        m = re.match(r"^\[([a-z]+)\] \S", line)
        assert m and m.group(1) in names, line


def first(lines, needle):
    return next(i for i, line in enumerate(lines) if needle in line)


def test_help_documents_the_options(vmctl):
    for cmd in ("up", "down", "reload", "provision"):
        out = vmctl.run(cmd, "--help", check=0).stdout
        assert "-j, --parallel N" in out and "--fail-fast" in out, cmd
        assert ("--no-deps" in out) == (cmd != "down"), cmd
    assert "depends-on" in vmctl.run("up", "--help", check=0).stdout


@pytest.mark.parametrize("args,msg", [
    (["-j", "0"], "--parallel must be between 1 and 1024, got '0'"),
    (["--parallel", "1025"], "--parallel must be between 1 and 1024, got '1025'"),
    (["-j", "two"], "--parallel needs a whole number, got 'two'"),
    (["--parallel"], "option '--parallel' needs a value"),
    (["-j"], "option '-j' needs a value"),
    (["--fail-fast=1"], "--fail-fast"),
])
def test_parallel_option_errors(vmctl, image, tmp_path, args, msg):
    proj = project(tmp_path, image, THREE)
    p = vmctl.run("up", *args, cwd=proj, check=2)
    assert msg in p.stderr and "Usage:" in p.stderr, p.stderr
    assert not os.path.exists(vmctl.store_path)
    p = vmctl.run("down", "--no-deps", cwd=proj, check=2)
    assert "unknown option '--no-deps'" in p.stderr


@pytest.mark.parametrize("jobs", [[], ["-j", "1"], ["--parallel", "2"]])
def test_three_vms_in_dependency_order(vmctl, image, tmp_path, jobs):
    proj = project(tmp_path, image, THREE)
    p = vmctl.run("up", *jobs, cwd=proj, check=0)
    lines, head, rows = split(p.stdout)
    assert_prefixed(lines, {"web", "cache", "db"})
    assert_prefixed(p.stderr.splitlines(), {"web", "cache", "db"})
    # a VM starts only once what it depends on is up
    assert first(lines, "[db] up in") < first(lines, "[cache] create")
    assert first(lines, "[cache] up in") < first(lines, "[web] create")
    assert re.match(r"^3 VMs in \d+\.\d\ds: 3 ok$", head), head
    assert list(rows) == ["db", "cache", "web"]
    assert all(r[1] == "up (created)" and re.match(r"^\d+\.\d\ds$", r[0])
               for r in rows.values()), rows
    vms = json.load(open(vmctl.store_path))["vms"]
    assert sorted(vms) == ["cache", "db", "web"]
    assert {v["state"] for v in vms.values()} == {"running"}
    # again: all running, skipped
    p = vmctl.run("up", *jobs, cwd=proj, check=0)
    lines, head, rows = split(p.stdout)
    assert sum("already running: skipped" in line for line in lines) == 3
    assert {r[1] for r in rows.values()} == {"already running"}
    # down: the reverse order, each after the VMs that depend on it
    p = vmctl.run("down", *jobs, cwd=proj, check=0)
    lines, head, rows = split(p.stdout)
    assert first(lines, "[web] stopped") < first(lines, "[cache] stopped") < \
        first(lines, "[db] stopped")
    assert list(rows) == ["web", "cache", "db"]
    p = vmctl.run("down", "--destroy", *jobs, cwd=proj, check=0)
    assert json.load(open(vmctl.store_path))["vms"] == {}


def test_name_brings_its_dependencies_unless_no_deps(vmctl, image, tmp_path):
    proj = project(tmp_path, image, THREE)
    p = vmctl.run("up", "--name", "cache", cwd=proj, check=0)
    lines, head, rows = split(p.stdout)
    assert list(rows) == ["db", "cache"]
    assert sorted(json.load(open(vmctl.store_path))["vms"]) == ["cache", "db"]
    vmctl.run("down", "--destroy", cwd=proj, check=0)
    # --no-deps: the VM alone, with the one-VM output (no summary)
    p = vmctl.run("up", "--name", "web", "--no-deps", cwd=proj, check=0)
    assert "summary" not in p.stdout
    assert p.stdout.splitlines()[-1].startswith("[web] up in ")
    assert list(json.load(open(vmctl.store_path))["vms"]) == ["web"]
    # down --name acts on that VM alone
    p = vmctl.run("down", "--name", "web", cwd=proj, check=0)
    assert p.stdout == "[web] stopped\n"
    # provision follows the same order (noop VMs without provisioners)
    vmctl.run("up", cwd=proj, check=0)
    p = vmctl.run("provision", "--name", "web", cwd=proj, check=0)
    lines, head, rows = split(p.stdout)
    assert list(rows) == ["db", "cache", "web"]
    assert {r[1] for r in rows.values()} == {"no provisioners"}


def test_a_failure_skips_its_dependants_only(vmctl, image, tmp_path):
    proj = project(tmp_path, image, FAILING)
    p = vmctl.run("up", cwd=proj, check=1)
    lines, head, rows = split(p.stdout)
    assert_prefixed(lines, {"web", "cache", "db"})
    err = p.stderr.splitlines()
    assert_prefixed(err, {"web", "cache", "db"})
    assert "[db] error[vm_manager::backend::not_available]: VM 'db' has no guest to reach " \
        "(noop backend)" in err
    assert head.endswith(": 1 ok, 1 failed, 1 skipped"), head
    assert rows["cache"][1] == "up (created)"
    assert rows["db"][1].startswith("FAILED: VM 'db' has no guest to reach")
    assert rows["web"] == ("-", "skipped (dependency db failed)")
    assert not any(line.startswith("[web]") for line in lines)
    vms = json.load(open(vmctl.store_path))["vms"]
    assert sorted(vms) == ["cache", "db"]  # db stays, for `vmctl log` and a retry


def test_fail_fast_starts_nothing_more(vmctl, image, tmp_path):
    # one at a time: db first, and it fails; web waits for it, zcache for a
    # free slot
    body = ('vm "db" {\n    image "IMAGE"\n    ssh { user "u"; }\n'
            '    provision "shell" { inline "true"; }\n}\n'
            'vm "web" {\n    image "IMAGE"\n    depends-on "db"\n}\n'
            'vm "zcache" {\n    image "IMAGE"\n}\n')
    proj = project(tmp_path, image, body)
    p = vmctl.run("up", "-j", "1", "--fail-fast", cwd=proj, check=1)
    lines, head, rows = split(p.stdout)
    assert list(rows) == ["db", "web", "zcache"]
    assert rows["db"][1].startswith("FAILED:")
    assert rows["web"][1] == "skipped (dependency db failed)"
    assert rows["zcache"] == ("-", "not started (--fail-fast: db failed)")
    assert sorted(json.load(open(vmctl.store_path))["vms"]) == ["db"]
    # without --fail-fast the independent VM still comes up
    vmctl.run("down", "--destroy", cwd=proj, check=0)
    p = vmctl.run("up", "-j", "1", cwd=proj, check=1)
    lines, head, rows = split(p.stdout)
    assert rows["zcache"][1] == "up (created)"


@pytest.fixture
def slow_server(tmp_path_factory):
    """A qcow2 image served over HTTP at 512 KiB/s (about 2 s)."""
    root = tmp_path_factory.mktemp("www")
    path = root / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    with open(path, "ab") as f:  # data qemu-img does not look at: a longer download
        f.write(random.Random(1).randbytes(1024 * 1024))
    srv = Server(str(root)).start()
    yield srv
    srv.stop()


SHARED = """
vm "a" {
    image-url "URL"
}
vm "b" {
    image-url "URL"
}
vm "c" {
    image-url "URL"
    depends-on "b"
}
"""


def test_a_shared_image_is_downloaded_once(vmctl, tmp_path, slow_server):
    url = slow_server.url("disk.qcow2?rate=524288")
    proj = project(tmp_path, "", SHARED.replace("URL", url))
    p = vmctl.run("up", cwd=proj, check=0, timeout=120)
    lines, head, rows = split(p.stdout)
    assert slow_server.count("disk.qcow2?rate=524288") == 1
    assert {r[1] for r in rows.values()} == {"up (created)"}
    # the progress of the one download, prefixed with the VM that made it
    progress = [line for line in p.stderr.splitlines() if "download" in line]
    assert progress and len({line.split("]")[0] for line in progress}) == 1, p.stderr
    assert_prefixed(p.stderr.splitlines(), {"a", "b", "c"})
    images = json.loads(vmctl.run("image", "list", "--json", check=0).stdout)
    assert len(images) == 1


def test_ctrl_c_mid_up_stops_cleanly(vmctl, tmp_path, slow_server):
    url = slow_server.url("disk.qcow2?rate=524288")
    proj = project(tmp_path, "", SHARED.replace("URL", url))
    proc = subprocess.Popen([vmctl.bin, "up"], cwd=proj, env=vmctl.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.7)  # the download is under way
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # a second one says what it waits for
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "vmctl: interrupted: starting no more VMs; stopping " in err
    assert "vmctl: still stopping: waiting for " in err
    lines, head, rows = split(out)
    # the download finished (it is not cut off); nobody created a VM after
    assert slow_server.count("disk.qcow2?rate=524288") == 1
    assert rows["c"] == ("-", "skipped (dependency b interrupted)")
    assert rows["a"][1] == rows["b"][1] == "interrupted (not created)"
    assert head.endswith(": 0 ok, 2 interrupted, 1 skipped"), head
    # vms.json, if written at all, is whole and names no half-made VM
    if os.path.exists(vmctl.store_path):
        assert json.load(open(vmctl.store_path))["vms"] == {}
    assert vmctl.run("list", check=0).stdout.count("\n") <= 1
    # and up again finishes the job from the cache
    p = vmctl.run("up", cwd=proj, check=0)
    assert slow_server.count("disk.qcow2?rate=524288") == 1
    assert split(p.stdout)[1].endswith(": 3 ok")


def test_ctrl_c_with_one_at_a_time(vmctl, tmp_path, slow_server):
    url = slow_server.url("disk.qcow2?rate=524288")
    proj = project(tmp_path, "", SHARED.replace("URL", url))
    proc = subprocess.Popen([vmctl.bin, "up", "-j", "1"], cwd=proj, env=vmctl.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.7)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "vmctl: interrupted: starting no more VMs; stopping a at its next step" in err
    lines, head, rows = split(out)
    assert rows["a"][1] == "interrupted (not created)"
    assert rows["b"] == ("-", "not started (interrupted)")
    assert rows["c"] == ("-", "skipped (dependency b not started)")


def test_a_third_ctrl_c_exits_at_once(vmctl, tmp_path, slow_server):
    url = slow_server.url("disk.qcow2?rate=262144")  # about 4 s
    proj = project(tmp_path, "", SHARED.replace("URL", url))
    proc = subprocess.Popen([vmctl.bin, "up"], cwd=proj, env=vmctl.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.7)
    t0 = time.monotonic()
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, (out, err)
    assert time.monotonic() - t0 < 2.5  # the download was not waited for
    assert "vmctl: still stopping: waiting for a, b to finish their current step (Ctrl-C " \
        "again exits at once, leaving them as they are)" in err, err
    assert not os.path.exists(vmctl.store_path) or \
        json.load(open(vmctl.store_path))["vms"] == {}
