# SPDX-License-Identifier: MIT
"""`vmctl` is a small front that runs list, status, log and --version itself
and execs vmctl-full for the rest (docs/ARCHITECTURE.md): it must stay free
of the heavy libraries, and hand everything else over unchanged.

Which vmctl-full runs is observed, not inferred from the output: an installed
vmctl-full prints the same help, so the tests read /proc/PID/exe of the
process the front became."""
import errno
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import Vmctl, vmctl_bin

HEAVY = ("libcurl", "libssh", "libisofs", "libcrypto", "libzstd", "liblzma", "libz.")


def needed(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True,
                         text=True).stdout
    return [l.split("[")[1].rstrip("]") for l in out.splitlines() if "(NEEDED)" in l]


@pytest.fixture
def full():
    path = os.path.join(os.path.dirname(vmctl_bin()), "vmctl-full")
    assert os.access(path, os.X_OK), f"no vmctl-full beside {vmctl_bin()}"
    return path


def installed_full():
    """The vmctl-full the front falls back to: <prefix>/<libexecdir> of the
    build the front comes from (main.c, VMCTL_LIBEXECDIR)."""
    build = os.path.dirname(os.path.dirname(os.path.realpath(vmctl_bin())))
    opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                     check=True, capture_output=True, text=True).stdout)
    val = {o["name"]: o["value"] for o in opts}
    return os.path.join(val["prefix"], val["libexecdir"], "vmctl-full")


def exe_run_by(front, env, tmp_path):
    """Run `front validate -f FIFO` and return the program the process runs
    once it opens the FIFO, as the kernel sees it (/proc/PID/exe). validate
    is not a front command, so by then the front has exec'd a vmctl-full;
    the process blocks reading the FIFO until the test has looked."""
    fifo = tmp_path / "VMFile.kdl"
    os.mkfifo(fifo)
    (tmp_path / "disk.qcow2").write_bytes(b"")
    proc = subprocess.Popen([front, "validate", "-f", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:  # ENXIO: nobody has the FIFO open for reading yet
                assert e.errno == errno.ENXIO, e
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"exited {proc.returncode} without reading the "
                                     f"VMFile:\n{out}{err}")
            assert time.monotonic() < deadline, "the VMFile was never opened"
            time.sleep(0.01)
        exe = os.readlink(f"/proc/{proc.pid}/exe")
        os.write(fd, b'vm "a" {\n    image "disk.qcow2"\n}\n')
        os.close(fd)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # it was vmctl-full's validate that read it: the plan it resolves to
    assert proc.returncode == 0 and 'vm "a"' in out and "disk.qcow2" in out, (out, err)
    return exe


def test_front_execs_the_build_trees_full(full, data_home, tmp_path):
    exe = exe_run_by(vmctl_bin(), Vmctl(data_home).env, tmp_path)
    assert exe == os.path.realpath(full), \
        f"the front ran {exe}, not the build tree's {os.path.realpath(full)}"
    assert exe != installed_full()


def test_front_execs_the_full_beside_it(full, data_home, tmp_path):
    """The rule, not the build tree's path: the vmctl-full in the front's own
    directory (both are linked statically with libvmm: copies run)."""
    here = tmp_path / "bin"
    here.mkdir()
    shutil.copy(vmctl_bin(), here / "vmctl")
    shutil.copy(full, here / "vmctl-full")
    exe = exe_run_by(str(here / "vmctl"), Vmctl(data_home).env, tmp_path)
    assert exe == str(here / "vmctl-full")


def test_front_links_no_heavy_library(full):
    libs = needed(vmctl_bin())
    assert libs, "readelf found no NEEDED entries"
    assert not [l for l in libs if l.startswith(HEAVY)], libs
    # the full program does need them: the check above can fail
    assert [l for l in needed(full) if l.startswith("libcurl")]


def test_help_and_errors_are_the_full_programs(full, data_home):
    v = Vmctl(data_home)
    for args in (["--help"], [], ["up", "--help"], ["image", "--help"], ["lst"],
                 ["--bogus"], ["help", "create"], ["list", "--help"], ["-V"]):
        front = v.run(*args)
        back = subprocess.run([full, *args], capture_output=True, text=True, env=v.env)
        assert (front.returncode, front.stdout, front.stderr) == \
            (back.returncode, back.stdout, back.stderr), args


def test_front_and_full_list_the_same(full, data_home, tmp_path):
    v = Vmctl(data_home)
    img = tmp_path / "base.img"
    img.write_bytes(b"")
    for name in ("b", "a"):
        v.run("create", "--name", name, "--image", str(img), check=0)
    for args in (["list"], ["list", "--json"], ["status", "a"], ["status", "a", "--json"],
                 ["status", "nope"]):
        front = v.run(*args)
        back = subprocess.run([full, *args], capture_output=True, text=True, env=v.env)
        assert (front.returncode, front.stdout, front.stderr) == \
            (back.returncode, back.stdout, back.stderr), args
    assert v.run("list", check=0).stdout.splitlines()[1].startswith("a ")


def test_front_without_full_beside_it(tmp_path, data_home):
    """Nothing beside the front: it runs the installed vmctl-full, and when
    that is missing too it says so, naming the path it tried."""
    here = tmp_path / "bin"
    here.mkdir()
    lone = here / "vmctl"
    shutil.copy(vmctl_bin(), lone)
    env = Vmctl(data_home).env
    inst = installed_full()
    if os.access(inst, os.X_OK):
        assert exe_run_by(str(lone), env, tmp_path) == os.path.realpath(inst)
        return
    p = subprocess.run([str(lone), "up"], capture_output=True, text=True, env=env)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == (f"vmctl: cannot run {inst}: No such file or directory\n"
                        "help: vmctl is installed incompletely; reinstall it\n"), p.stderr
