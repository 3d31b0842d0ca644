"""`vmctl` is a small front that runs list, status, log and --version itself
and execs vmctl-full for the rest (docs/ARCHITECTURE.md): it must stay free
of the heavy libraries, and hand everything else over unchanged."""
import os
import shutil
import subprocess

import pytest

from conftest import Vmctl, vmctl_bin

HEAVY = ("libcurl", "libssh", "libisofs", "libcrypto", "libzstd", "liblzma", "libz.")


def needed(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True,
                         text=True).stdout
    return [l.split("[")[1].rstrip("]") for l in out.splitlines() if "(NEEDED)" in l]


@pytest.fixture
def full():
    return os.path.join(os.path.dirname(vmctl_bin()), "vmctl-full")


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


def test_front_without_full_says_so(tmp_path, data_home):
    lone = tmp_path / "vmctl"
    shutil.copy(vmctl_bin(), lone)
    p = subprocess.run([str(lone), "up"], capture_output=True, text=True,
                       env=Vmctl(data_home).env)
    if os.path.exists("/usr/libexec/vmctl-full") or os.path.exists(
            "/usr/local/libexec/vmctl-full"):
        # an installed vmctl-full takes over: the front handed the command on
        assert "cannot run" not in p.stderr, p.stderr
        return
    assert p.returncode == 1
    assert "cannot run" in p.stderr and "vmctl-full" in p.stderr
