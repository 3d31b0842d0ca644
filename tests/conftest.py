# SPDX-License-Identifier: MIT
"""Shared pytest fixtures: the vmctl binary and an isolated data directory."""
import os
import subprocess
import tempfile

import pytest

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vmctl_bin():
    return os.environ.get("VMCTL_BIN", os.path.join(SRCDIR, "build", "src", "vmctl"))


class Vmctl:
    """Runs the real vmctl binary with an isolated XDG_DATA_HOME."""

    def __init__(self, data_home, backend="noop"):
        self.data_home = data_home
        self.env = dict(os.environ)
        self.env["XDG_DATA_HOME"] = data_home
        self.env.pop("VMCTL_LOG", None)
        if backend:
            self.env["VMCTL_BACKEND"] = backend
        else:
            self.env.pop("VMCTL_BACKEND", None)
        self.bin = vmctl_bin()

    @property
    def data_dir(self):
        return os.path.join(self.data_home, "vmctl")

    @property
    def store_path(self):
        return os.path.join(self.data_dir, "vms.json")

    def run(self, *args, check=None, input=None, timeout=120, env=None, cwd=None):
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run([self.bin, *args], capture_output=True, text=True,
                           input=input, timeout=timeout, env=e, cwd=cwd)
        if check is not None and p.returncode != check:
            raise AssertionError(
                f"vmctl {' '.join(args)}: exit {p.returncode}, expected {check}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def popen(self, *args, **kw):
        return subprocess.Popen([self.bin, *args], env=self.env, **kw)


@pytest.fixture
def data_home():
    # short path: unix socket paths below it must stay under 108 bytes
    d = tempfile.mkdtemp(prefix="vmt-", dir="/tmp")
    yield d
    subprocess.run(["rm", "-rf", d])


@pytest.fixture
def vmctl(data_home):
    return Vmctl(data_home)


@pytest.fixture
def image(tmp_path):
    """A file that stands for a base image (the noop backend never reads it)."""
    p = tmp_path / "base.img"
    p.write_bytes(b"\0" * 512)
    return str(p)
