# SPDX-License-Identifier: MIT
"""The small test guest (tests/guest/): path of the cached image, built on
first use, plus helpers to boot it with plain QEMU and wait for its sshd.

    from guest import guest_image_path
    img = guest_image_path()      # builds (about a minute) or reuses the cache

The cache directory is $VMCTL_TEST_CACHE (default ~/.cache/vmctl-test); the
image is guest-<hash of the build inputs>.qcow2 there. Never boot the cached
image directly: put a qcow2 overlay on top of it.
"""
import os
import socket
import subprocess
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SH = os.path.join(SRCDIR, "tests", "guest", "build.sh")

# The guest prints this on its serial console once dropbear listens on :22.
READY_LINE = "vmctl-guest: sshd ready"
# A line of raw user-data that makes the guest ignore the ACPI power button.
IGNORE_ACPI = "#vmctl-test: ignore-acpi"

_cached = None


def cache_dir():
    return os.environ.get("VMCTL_TEST_CACHE",
                          os.path.join(os.path.expanduser("~"), ".cache", "vmctl-test"))


def guest_image_path(force=False):
    """Return the path of the test guest's qcow2, building it if needed.

    Raises RuntimeError (with the build log) when the build fails."""
    global _cached
    if _cached and not force and os.path.exists(_cached):
        return _cached
    args = [BUILD_SH] + (["--force"] if force else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if p.returncode != 0 or not p.stdout.strip():
        raise RuntimeError("test guest build failed (exit %d):\n%s" % (p.returncode, p.stderr))
    _cached = p.stdout.strip().splitlines()[-1]
    return _cached


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ssh_banner(port, timeout=120.0, host="127.0.0.1"):
    """Wait until an SSH banner comes back on host:port; return seconds waited.

    QEMU's user network accepts a TCP connection before the guest listens,
    so only the banner counts; short probes avoid slirp's SYN backoff."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("no SSH banner on %s:%d after %.0f s" % (host, port, timeout))


def qemu_args(overlay, seed, port, workdir, vcpus=1, memory=512, seed_if="ide"):
    """QEMU arguments that boot the guest the way vmctl does (TCG, q35).

    seed_if: "ide" (CD-ROM on q35's AHCI) or "virtio" (a virtio-blk disk)."""
    args = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", str(vcpus), "-m", str(memory), "-nodefaults", "-display", "none",
            "-drive", "file=%s,if=virtio,format=qcow2" % overlay]
    if seed:
        if seed_if == "ide":
            args += ["-drive", "file=%s,media=cdrom,if=ide,format=raw,readonly=on" % seed]
        else:
            args += ["-drive", "file=%s,if=virtio,format=raw,readonly=on" % seed]
    args += ["-device", "virtio-rng-pci",
             "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22" % port,
             "-device", "virtio-net-pci,netdev=n0",
             "-serial", "file:%s" % os.path.join(workdir, "console.log"),
             "-qmp", "unix:%s,server=on,wait=off" % os.path.join(workdir, "qmp.sock")]
    return args
