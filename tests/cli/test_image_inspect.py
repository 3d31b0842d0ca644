# SPDX-License-Identifier: MIT
"""`vmctl image inspect` on real images made with qemu-img: raw and qcow2
bases, an overlay chain, and files that are not disk images."""
import json
import os
import subprocess

import pytest

FMT_ERR = "error[vm_manager::image::format_detection_failed]"


def qemu_img(*args):
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture
def images(tmp_path):
    raw = tmp_path / "base.raw"
    qcow = tmp_path / "base.qcow2"
    ov = tmp_path / "overlay.qcow2"
    qemu_img("create", "-q", "-f", "raw", str(raw), "64M")
    qemu_img("create", "-q", "-f", "qcow2", str(qcow), "1G")
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(qcow), "-F", "qcow2", str(ov), "2G")
    return {"raw": str(raw), "qcow2": str(qcow), "overlay": str(ov)}


def test_inspect_raw(vmctl, images):
    out = vmctl.run("image", "inspect", images["raw"], check=0).stdout
    assert "Format:        raw\n" in out
    assert "Virtual size:  64.0 MiB (67108864 bytes)\n" in out
    assert "Backing chain: none\n" in out
    j = json.loads(vmctl.run("image", "inspect", "--json", images["raw"], check=0).stdout)
    assert j["format"] == "raw" and j["virtual_size"] == 64 << 20
    assert j["backing_chain"] == [] and j["path"] == images["raw"]
    assert isinstance(j["actual_size"], int)


def test_inspect_qcow2_and_overlay_chain(vmctl, images):
    j = json.loads(vmctl.run("image", "inspect", "--json", images["qcow2"], check=0).stdout)
    assert j["format"] == "qcow2" and j["virtual_size"] == 1 << 30
    out = vmctl.run("image", "inspect", images["overlay"], check=0).stdout
    assert "Format:        qcow2\n" in out
    assert "Virtual size:  2.00 GiB (2147483648 bytes)\n" in out
    assert f"Backing chain: {images['qcow2']} (qcow2)\n" in out
    j = json.loads(vmctl.run("image", "inspect", "--json", images["overlay"], check=0).stdout)
    assert j["backing_chain"] == [{"filename": images["qcow2"], "format": "qcow2"}]


@pytest.mark.parametrize("content,words", [
    (b"<html><body>404 Not Found</body></html>\n", "is text"),
    (bytes(range(256)) * 3, "not a whole number of 512-byte sectors"),
    (b"\x28\xb5\x2f\xfd" + b"\0" * 508, "zstd-compressed"),
    (b"", "empty"),
])
def test_inspect_refuses_what_is_not_an_image(vmctl, tmp_path, content, words):
    p = tmp_path / "garbage.img"
    p.write_bytes(content)
    r = vmctl.run("image", "inspect", str(p), check=1)
    assert r.stderr.startswith(FMT_ERR)
    assert words in r.stderr
    assert "\nhelp: " in r.stderr
    assert r.stdout == ""


def test_inspect_missing_file(vmctl, tmp_path):
    r = vmctl.run("image", "inspect", str(tmp_path / "nope.qcow2"), check=1)
    assert r.stderr.startswith(FMT_ERR) and "does not exist" in r.stderr


def test_inspect_broken_backing_chain(vmctl, images):
    os.unlink(images["qcow2"])
    r = vmctl.run("image", "inspect", images["overlay"], check=1)
    assert r.stderr.startswith(FMT_ERR) and "qemu-img cannot read" in r.stderr
