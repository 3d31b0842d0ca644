# SPDX-License-Identifier: MIT
"""`vmctl cp` end to end: a 50 MiB file and a directory tree copied into a
running test guest and back (sha256 and modes equal on every side), and the
errors (missing sources on either side, a directory without -r, missing
destination directories). Real QEMU, the test guest, SFTP on the pinned key.
"""
import hashlib
import json
import os
import pty
import stat
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

T = 600  # a boot, or 50 MiB through SFTP, under software emulation on a busy host

VMFILE = """
vm "cpvm" {
    image "guest.qcow2"
    memory 768
    cloud-init {
        hostname "cpvm"
    }
}
"""


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    proj = tmp_path_factory.mktemp("cp")
    data = tmp_path_factory.mktemp("data")
    os.symlink(guest_image_path(), proj / "guest.qcow2")
    (proj / "VMFile.kdl").write_text(VMFILE)
    v = Vmctl(str(data), backend=None)
    v.env.pop("VMCTL_QEMU", None)
    v.run("up", cwd=proj, timeout=T, check=0)
    wait_ssh(v, proj, "cpvm")
    yield v, proj
    v.run("destroy", "cpvm", timeout=120)


def wait_ssh(v, proj, name, timeout=T):
    """`vmctl ssh` waits 30 s; a boot under a loaded host can take longer."""
    deadline = time.monotonic() + timeout
    while True:
        p = v.run("ssh", name, "--", "true", cwd=proj, timeout=timeout)
        if p.returncode == 0 or time.monotonic() > deadline:
            assert p.returncode == 0, p.stderr
            return


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def guest(v, proj, cmd):
    return v.run("ssh", "cpvm", "--", cmd, cwd=proj, timeout=T, check=0).stdout


def listing(root):
    """Relative path -> (kind, mode bits, sha256 or link text) of a tree."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", None, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode), None)
            else:
                out[rel] = ("f", stat.S_IMODE(st.st_mode), sha256(p))
    return out


def test_big_file_both_ways(vm):
    v, proj = vm
    big = proj / "big.bin"
    big.write_bytes(os.urandom(50 * 1024 * 1024))
    os.chmod(big, 0o640)
    want = sha256(big)
    p = v.run("cp", "big.bin", "cpvm:/tmp/", cwd=proj, timeout=T, check=0)
    # not a terminal: no progress output
    assert p.stderr == "" and p.stdout == ""
    out = guest(v, proj, "sha256sum /tmp/big.bin; stat -c %a /tmp/big.bin; ls -a /tmp")
    assert out.split()[0] == want
    assert out.split()[2] == "640"
    assert ".vmctl-" not in out
    (proj / "back").mkdir()
    v.run("cp", "cpvm:/tmp/big.bin", "back/", cwd=proj, timeout=T, check=0)
    back = proj / "back" / "big.bin"
    assert sha256(back) == want
    assert stat.S_IMODE(os.stat(back).st_mode) == 0o640
    assert os.listdir(proj / "back") == ["big.bin"]
    # on a terminal: a progress bar on stderr, ending at 100 %
    master, slave = pty.openpty()
    p = subprocess.Popen([v.bin, "cp", "big.bin", "cpvm:/tmp/big2.bin"], cwd=proj, env=v.env,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []

    def drain():  # keep reading: a full terminal buffer would block vmctl
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    assert p.wait(timeout=T) == 0
    reader.join(timeout=30)
    os.close(master)
    bar = b"".join(chunks)
    assert b"big.bin [" in bar and b"100%" in bar and b"50.0 MiB / 50.0 MiB" in bar, bar
    # a new name, from a relative guest path (the SSH user's home)
    guest(v, proj, "cp /tmp/big.bin ./home.bin")
    v.run("cp", "cpvm:home.bin", "back/renamed.bin", cwd=proj, timeout=T, check=0)
    assert sha256(proj / "back" / "renamed.bin") == want


def test_tree_both_ways(vm):
    v, proj = vm
    src = proj / "tree"
    (src / "a" / "b").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "one.txt").write_text("one\n")
    (src / "a" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "a" / "b" / "data").write_bytes(os.urandom(300000))
    os.symlink("../one.txt", src / "a" / "link")
    os.chmod(src / "a" / "run.sh", 0o755)
    os.chmod(src / "one.txt", 0o600)
    os.chmod(src / "a" / "b", 0o750)
    want = listing(src)
    v.run("cp", "-r", "tree", "cpvm:/tmp/t", cwd=proj, timeout=T, check=0)
    out = guest(v, proj, "cd /tmp/t && find . | sort && stat -c '%n %a' one.txt a/run.sh a/b "
                "&& readlink a/link && a/run.sh")
    names = sorted("./" + k for k in want) + ["."]
    assert sorted(out.split("\n")[:len(names)]) == sorted(names)
    assert "one.txt 600" in out and "a/run.sh 755" in out and "a/b 750" in out
    assert "../one.txt\nhi\n" in out
    # back into an existing directory
    (proj / "tback").mkdir()
    v.run("cp", "-r", "cpvm:/tmp/t", "tback", cwd=proj, timeout=T, check=0)
    assert listing(proj / "tback" / "t") == want


def error(p):
    assert p.returncode == 1, p
    assert "error[" in p.stderr and "help: " in p.stderr, p.stderr
    return p.stderr


def test_errors(vm):
    v, proj = vm
    (proj / "adir").mkdir()
    (proj / "f.txt").write_text("x\n")
    e = error(v.run("cp", "missing.txt", "cpvm:/tmp/", cwd=proj))
    assert "source 'missing.txt' on the host does not exist" in e
    e = error(v.run("cp", "cpvm:/nonexistent/file", ".", cwd=proj, timeout=T))
    assert "source '/nonexistent/file' in the guest does not exist" in e
    e = error(v.run("cp", "adir", "cpvm:/tmp/", cwd=proj, timeout=T))
    assert "is a directory" in e and "-r" in e
    e = error(v.run("cp", "cpvm:/tmp", ".", cwd=proj, timeout=T))
    assert "is a directory" in e
    e = error(v.run("cp", "f.txt", "cpvm:/nonexistent/", cwd=proj, timeout=T))
    assert "destination directory '/nonexistent/' in the guest does not exist" in e
    e = error(v.run("cp", "f.txt", "cpvm:/nonexistent/x", cwd=proj, timeout=T))
    assert "destination directory '/nonexistent' in the guest does not exist" in e
    e = error(v.run("cp", "cpvm:/etc/passwd", "nodir/x", cwd=proj, timeout=T))
    assert "destination directory 'nodir' on the host does not exist" in e
    assert not os.path.exists(proj / "nodir")
    # an unknown VM
    e = error(v.run("cp", "f.txt", "nosuch:/tmp/", cwd=proj))
    assert "nosuch" in e
