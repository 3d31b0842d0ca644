# SPDX-License-Identifier: MIT
"""`vmctl image pull|list|rm` against a real HTTP server on 127.0.0.1
(tests/lib/httpserver.py) that misbehaves on request: error statuses,
redirect chains, bodies cut short, stalls, no Range support, slow streams."""
import gzip
import hashlib
import json
import lzma
import os
import pty
import random
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from httpserver import Server  # noqa: E402

MIB = 1024 * 1024
DL_ERR = "error[vm_manager::image::download_failed]"


def make_image(path, size, seed):
    """Something like a disk image: binary, long runs of zeros, runs of
    incompressible data and of repetitive data (compresses ~3x)."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        kind = rng.random()
        if kind < 0.35:
            out += b"\0" * 65536
        elif kind < 0.65:
            out += rng.randbytes(65536)
        else:
            out += rng.randbytes(64) * 1024
    del out[size:]
    with open(path, "wb") as f:
        f.write(out)
    return bytes(out)


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("srv")
    os.makedirs(root / "a")
    os.makedirs(root / "b")
    d = {}
    d["raw"] = make_image(root / "disk.img", 4 * MIB, "raw")
    d["big"] = make_image(root / "big.img", 8 * MIB, "big")
    d["a"] = make_image(root / "a" / "disk.img", 2 * MIB, "a")
    d["b"] = make_image(root / "b" / "disk.img", 2 * MIB + 4096, "b")
    subprocess.run(["zstd", "-q", "-f", str(root / "disk.img"), "-o",
                    str(root / "disk.img.zst")], check=True)
    subprocess.run(["zstd", "-q", "-f", str(root / "big.img"), "-o",
                    str(root / "big.img.zst")], check=True)
    (root / "disk.img.xz").write_bytes(lzma.compress(d["raw"], preset=1))
    (root / "disk.img.gz").write_bytes(gzip.compress(d["raw"], 6))
    # compressed, but the name does not say so: the magic bytes do
    shutil.copy(root / "disk.img.zst", root / "noext.img")
    # the name says zstd, the data is not
    shutil.copy(root / "disk.img", root / "liar.img.zst")
    (root / "page.html").write_bytes(b"<html><body>Sign in to download</body></html>\n" * 20)
    d["root"] = root
    return d


@pytest.fixture(scope="module")
def server(files):
    srv = Server(str(files["root"])).start()
    yield srv
    srv.stop()


def published(files, rel):
    with open(files["root"] / rel.split("?")[0], "rb") as f:
        return f.read()


def all_entries(vmctl):
    """Every entry `image list --json` shows, partial ones included."""
    return json.loads(vmctl.run("image", "list", "--json", check=0).stdout)


def entries(vmctl):
    """The images: complete entries (what a pull can hit)."""
    return [e for e in all_entries(vmctl) if e["state"] == "complete"]


def human(b):
    """A size as vmctl prints it for humans."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v, u = float(b), 0
    while v >= 1024 and u < 4:
        v /= 1024
        u += 1
    return f"{b} B" if u == 0 else f"{v:.1f} {units[u]}"


def du(d):
    """Bytes the files of a directory take on disk."""
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in os.listdir(d)
               if os.path.isfile(os.path.join(d, f)))


def key_of(url):
    return hashlib.sha256(url.encode()).hexdigest()


def lock_of(vmctl, url):
    return os.path.join(vmctl.data_dir, "locks", f"image-{key_of(url)}.lock")


def images_dir(vmctl):
    return os.path.join(vmctl.data_dir, "images")


def assert_nothing_cached(vmctl):
    assert entries(vmctl) == []
    d = images_dir(vmctl)
    left = os.listdir(d) if os.path.isdir(d) else []
    assert left == [], f"left in the cache: {left}"


def pull(vmctl, server, rel, *args, check=0, **kw):
    return vmctl.run("image", "pull", "--quiet", *args, server.url(rel), check=check, **kw)


def test_pull_200_and_cache_hit(vmctl, server, files):
    rel = "disk.img?case=200"
    p = pull(vmctl, server, rel)
    path = p.stdout.strip()
    assert path.startswith(images_dir(vmctl) + "/") and path.endswith("/disk.img")
    with open(path, "rb") as f:
        assert f.read() == files["raw"]
    # the hole-punching writer keeps the zero runs sparse
    assert os.stat(path).st_blocks * 512 < len(files["raw"])
    [e] = entries(vmctl)
    assert e["name"] == "disk.img" and e["url"] == server.url(rel) and e["path"] == path
    assert e["sha256"] == sha(files["raw"]) and e["size"] == len(files["raw"])
    assert e["compression"] == "none"
    assert e["state"] == "complete" and e["used_by"] == []
    assert e["disk_usage"] == du(os.path.dirname(path))
    out = vmctl.run("image", "list", check=0).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATE", "SIZE", "VMS", "PATH"]
    assert out[1].split() == ["disk.img", "complete", *human(e["disk_usage"]).split(), "-",
                              path]
    assert sha(files["raw"]) in vmctl.run("image", "list", "--digests", check=0).stdout
    assert server.count(rel) == 1
    # a hit: no request, same path
    assert pull(vmctl, server, rel).stdout.strip() == path
    assert server.count(rel) == 1


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_error_caches_nothing(vmctl, server, status):
    rel = f"disk.img?status={status}"
    p = pull(vmctl, server, rel, check=1)
    assert DL_ERR in p.stderr
    assert f"HTTP {status} from {server.url(rel)}" in p.stderr
    assert "\nhelp: " in p.stderr
    assert_nothing_cached(vmctl)
    # 5xx is retried a bounded number of times, 4xx is final
    assert server.count(rel) == (4 if status >= 500 else 1)


def test_missing_file_is_404(vmctl, server):
    p = pull(vmctl, server, "nope/nothing.img", check=1)
    assert "HTTP 404" in p.stderr and "nope/nothing.img" in p.stderr
    assert_nothing_cached(vmctl)


def test_redirect_chain(vmctl, server, files):
    p = pull(vmctl, server, "disk.img?redirect=4")
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]
    [e] = entries(vmctl)
    assert e["url"] == server.url("disk.img?redirect=4")  # keyed by what was asked
    # an endless chain is an error, not a loop
    p = pull(vmctl, server, "disk.img?redirect=50", check=1)
    assert DL_ERR in p.stderr and "redirect" in p.stderr.lower()
    assert len(entries(vmctl)) == 1


def test_body_cut_short_is_resumed(vmctl, server, files):
    rel = f"big.img?truncate={3 * MIB + 5}&times=1"
    p = pull(vmctl, server, rel)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["big"]
    assert server.ranges(rel) == [None, f"bytes={3 * MIB + 5}-"]


def test_body_always_cut_short_fails(vmctl, server):
    rel = f"big.img?truncate={MIB}"
    p = pull(vmctl, server, rel, check=1)
    assert DL_ERR in p.stderr and "giving up after" in p.stderr
    assert f"after {MIB} of {8 * MIB} bytes" in p.stderr
    assert "help: " in p.stderr
    assert entries(vmctl) == []
    assert server.count(rel) >= 4


def test_compressed_body_cut_short_is_resumed(vmctl, server, files):
    size = os.path.getsize(files["root"] / "big.img.zst")
    rel = f"big.img.zst?truncate={size // 2}&times=1"
    p = pull(vmctl, server, rel)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["big"]
    # the decompressor's state lives on in the process: a Range request
    assert server.ranges(rel) == [None, f"bytes={size // 2}-"]


def test_stall_gives_up_with_hint(vmctl, server):
    rel = f"big.img?stall={2 * MIB}&stall_s=30"
    t0 = time.monotonic()
    p = pull(vmctl, server, rel, "--stall-timeout", "1", check=1)
    took = time.monotonic() - t0
    assert DL_ERR in p.stderr and "stalled" in p.stderr
    assert "help: check network connectivity" in p.stderr
    assert took < 20
    assert entries(vmctl) == []


def test_stall_once_is_resumed(vmctl, server, files):
    rel = f"big.img?stall={2 * MIB}&stall_s=30&times=1"
    p = pull(vmctl, server, rel, "--stall-timeout", "1")
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["big"]
    assert server.ranges(rel) == [None, f"bytes={2 * MIB}-"]


def test_server_without_range_starts_over(vmctl, server, files):
    rel = f"big.img?range=0&truncate={3 * MIB}&times=1"
    p = pull(vmctl, server, rel, "--sha256", sha(files["big"]))
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["big"]
    # asked for the rest, got the whole file, and took it from the start
    assert server.ranges(rel) == [None, f"bytes={3 * MIB}-"]
    assert entries(vmctl)[0]["sha256"] == sha(files["big"])


def test_connection_refused(vmctl):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    p = vmctl.run("image", "pull", "-q", f"http://127.0.0.1:{port}/x.img", check=1)
    assert DL_ERR in p.stderr and "giving up after 4 attempts" in p.stderr
    assert "help: check network connectivity" in p.stderr
    assert_nothing_cached(vmctl)


def wait_for_part(vmctl, proc, min_bytes, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = images_dir(vmctl)
        for key in os.listdir(d) if os.path.isdir(d) else []:
            part = os.path.join(d, key, ".download.part")
            if os.path.exists(part) and os.path.getsize(part) >= min_bytes:
                return part
        assert proc.poll() is None, "vmctl finished before it could be killed"
        time.sleep(0.05)
    raise AssertionError("the download never got going")


@pytest.mark.parametrize("rel,resumes", [
    ("big.img?rate=3000000&times=1", True),          # raw: resumed with Range
    ("big.img.zst?rate=1500000&times=1", False),     # compressed: started over
    ("big.img?range=0&rate=3000000&times=1", False),  # no Range support: started over
])
def test_kill9_mid_download(vmctl, server, files, rel, resumes):
    digest = sha(published(files, rel))
    proc = vmctl.popen("image", "pull", "-q", server.url(rel), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    part = wait_for_part(vmctl, proc, MIB)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    # an interrupted download is never a hit: it is listed as partial
    assert entries(vmctl) == []
    [e] = all_entries(vmctl)
    assert e["state"] == "partial" and e["path"] == part and e["url"] == server.url(rel)
    assert not [f for f in os.listdir(os.path.dirname(part)) if not f.startswith(".")]
    done = os.path.getsize(part)
    p = pull(vmctl, server, rel, "--sha256", digest)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["big"]
    [e] = entries(vmctl)
    assert e["sha256"] == digest
    ranges = server.ranges(rel)
    assert len(ranges) == 2
    if resumes:
        # from exactly what the killed run left on disk
        assert done >= MIB and ranges[1] == f"bytes={done}-"
    elif "range=0" not in rel:
        assert ranges[1] is None
    assert sorted(os.listdir(os.path.dirname(part))) == [".image.json", "big.img"]


def test_sha256_mismatch(vmctl, server, files):
    rel = "disk.img?case=sha"
    wrong = "0" * 64
    p = pull(vmctl, server, rel, "--sha256", wrong, check=1)
    assert "error[vm_manager::image::checksum_mismatch]" in p.stderr
    assert wrong in p.stderr and sha(files["raw"]) in p.stderr
    assert_nothing_cached(vmctl)
    # the right one, in capitals as some SHA256SUMS files have it
    pull(vmctl, server, rel, "--sha256", sha(files["raw"]).upper())
    # a hit whose recorded digest differs is refused too
    p = pull(vmctl, server, rel, "--sha256", wrong, check=1)
    assert "checksum_mismatch" in p.stderr and "cached image" in p.stderr
    p = pull(vmctl, server, rel, "--sha256", "xyz", check=1)
    assert "not a sha256" in p.stderr


@pytest.mark.parametrize("ext,comp", [("zst", "zstd"), ("xz", "xz"), ("gz", "gzip")])
def test_compressed(vmctl, server, files, ext, comp):
    rel = f"disk.img.{ext}"
    digest = sha(published(files, rel))
    p = pull(vmctl, server, rel, "--sha256", digest)
    path = p.stdout.strip()
    assert path.endswith("/disk.img")
    with open(path, "rb") as f:
        assert f.read() == files["raw"]
    [e] = entries(vmctl)
    # the digest is of the file as published (compressed), as SHA256SUMS has it
    assert e["sha256"] == digest and e["compression"] == comp
    assert e["download_size"] == len(published(files, rel))


def test_compression_by_magic_and_a_lying_name(vmctl, server, files):
    p = pull(vmctl, server, "noext.img")
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]
    assert entries(vmctl)[0]["compression"] == "zstd"
    p = pull(vmctl, server, "liar.img.zst", check=1)
    assert "error[vm_manager::image::format_detection_failed]" in p.stderr
    assert "zstd" in p.stderr
    assert len(entries(vmctl)) == 1


def test_error_page_with_200_is_not_an_image(vmctl, server):
    p = pull(vmctl, server, "page.html", check=1)
    assert "error[vm_manager::image::format_detection_failed]" in p.stderr
    assert "not a disk image" in p.stderr
    assert_nothing_cached(vmctl)


def test_eight_concurrent_pulls_download_once(vmctl, server, files):
    rel = "big.img?rate=8000000&case=concurrent"
    procs = [vmctl.popen("image", "pull", "-q", server.url(rel), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outs
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    assert server.count(rel) == 1
    with open(paths.pop(), "rb") as f:
        assert f.read() == files["big"]
    assert len(entries(vmctl)) == 1


def test_same_basename_two_urls(vmctl, server, files):
    pa = pull(vmctl, server, "a/disk.img").stdout.strip()
    pb = pull(vmctl, server, "b/disk.img").stdout.strip()
    assert pa != pb
    with open(pa, "rb") as f:
        assert f.read() == files["a"]
    with open(pb, "rb") as f:
        assert f.read() == files["b"]
    es = entries(vmctl)
    assert [e["name"] for e in es] == ["disk.img", "disk.img"]
    # the name alone is ambiguous; the URL is not
    p = vmctl.run("image", "rm", "disk.img", check=1)
    assert "2 cached images are named 'disk.img'" in p.stderr
    assert server.url("a/disk.img") in p.stderr and server.url("b/disk.img") in p.stderr
    vmctl.run("image", "rm", server.url("a/disk.img"), check=0)
    [e] = entries(vmctl)
    assert e["path"] == pb
    assert not os.path.exists(pa)
    vmctl.run("image", "rm", "disk.img", check=0)
    assert entries(vmctl) == []
    p = vmctl.run("image", "rm", "disk.img", check=1)
    assert "error[vm_manager::image::not_found]" in p.stderr


def test_name_option(vmctl, server, files):
    p = vmctl.run("image", "pull", "-q", "--name", "ubuntu-test", server.url("disk.img.zst"),
                  check=0)
    assert p.stdout.strip().endswith("/ubuntu-test")
    [e] = entries(vmctl)
    assert e["name"] == "ubuntu-test"
    p = vmctl.run("image", "pull", "-q", "--name", "../evil", server.url("disk.img"), check=1)
    assert "error[vm_manager::usage]" in p.stderr and "invalid image name" in p.stderr
    p = vmctl.run("image", "pull", "-q", "ftp://example.com/x.img", check=1)
    assert "not an http(s) or file URL" in p.stderr


def test_rm_refuses_while_a_vm_uses_the_image(vmctl, server):
    path = pull(vmctl, server, "disk.img?case=rm").stdout.strip()
    vmctl.run("create", "--name", "vm1", "--image", path, check=0)
    p = vmctl.run("image", "rm", "disk.img", check=1)
    assert "error[vm_manager::image::in_use]" in p.stderr and "vm1" in p.stderr
    assert os.path.exists(path)
    vmctl.run("destroy", "vm1", check=0)
    vmctl.run("image", "rm", "disk.img", check=0)
    assert not os.path.exists(path)


def test_progress_plain_lines(vmctl, server):
    rel = "big.img?rate=6000000&case=progress"
    p = vmctl.run("image", "pull", server.url(rel), check=0)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("Downloading big.img: ")]
    pcts = [int(ln.split(": ")[1].split("%")[0]) for ln in lines]
    assert len(pcts) >= 5
    assert pcts == sorted(set(pcts)) and all(x % 5 == 0 for x in pcts)
    assert "of 8.0 MiB" in lines[-1]
    assert "Downloaded big.img: 8.0 MiB" in p.stderr
    assert "\r" not in p.stderr
    # a hit, and --quiet: nothing on stderr
    q = vmctl.run("image", "pull", "--quiet", server.url(rel), check=0)
    assert q.stderr == "" and q.stdout == p.stdout


def test_progress_bar_on_a_terminal(vmctl, server):
    rel = "big.img?rate=6000000&case=tty"
    master, slave = pty.openpty()
    proc = subprocess.Popen([vmctl.bin, "image", "pull", server.url(rel)], env=vmctl.env,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 30)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=30)
    os.close(master)
    text = out.decode()
    assert proc.returncode == 0
    assert "\rbig.img [" in text and "%" in text and "ETA" in text and "MiB/s" in text
    assert "100%" in text


def test_usage_errors(vmctl):
    assert vmctl.run("image", check=2).stderr.startswith("vmctl image: missing subcommand")
    assert "unknown subcommand 'frob'" in vmctl.run("image", "frob", check=2).stderr
    assert "missing URL" in vmctl.run("image", "pull", check=2).stderr
    assert vmctl.run("image", "pull", "--help", check=0).stdout.startswith(
        "Download an image into the cache\n")


def test_file_url(vmctl, files):
    url = "file://" + str(files["root"] / "disk.img.zst")
    p = vmctl.run("image", "pull", "-q", url, check=0)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]
    [e] = entries(vmctl)
    assert e["url"] == url and e["compression"] == "zstd"
    t0 = time.monotonic()
    p = vmctl.run("image", "pull", "-q", "file:///nonexistent/x.img", check=1)
    assert DL_ERR in p.stderr and "file:///nonexistent/x.img" in p.stderr
    assert time.monotonic() - t0 < 2  # not retried
    assert len(entries(vmctl)) == 1


def plant_part(vmctl, url, data, state):
    key = hashlib.sha256(url.encode()).hexdigest()
    d = os.path.join(images_dir(vmctl), key)
    os.makedirs(d)
    with open(os.path.join(d, ".download.part"), "wb") as f:
        f.write(data)
    with open(os.path.join(d, ".download.json"), "w") as f:
        json.dump(state, f)
    return d


def test_complete_part_left_by_a_killed_run(vmctl, server, files):
    # killed after the last byte, before the rename: the server answers the
    # Range request with 416, and the pull starts over
    rel = "disk.img?case=416"
    url = server.url(rel)
    d = plant_part(vmctl, url, files["raw"], {"version": 1, "url": url,
                                              "compression": "none"})
    p = pull(vmctl, server, rel, "--sha256", sha(files["raw"]))
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]
    assert server.ranges(rel) == [f"bytes={len(files['raw'])}-", None]
    assert sorted(os.listdir(d)) == [".image.json", "disk.img"]


def test_part_of_another_url_is_not_resumed(vmctl, server, files):
    rel = "disk.img?case=otherpart"
    url = server.url(rel)
    plant_part(vmctl, url, b"\x01" * 4096, {"version": 1, "url": url + "x",
                                            "compression": "none"})
    p = pull(vmctl, server, rel)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]
    assert server.ranges(rel) == [None]


# ---- partial entries, list sizes, rm of partial entries, prune ----

def kill_mid_pull(vmctl, server, rel, *args):
    """Start a pull, kill -9 it once 1 MiB is in: returns the part file."""
    proc = vmctl.popen("image", "pull", "-q", *args, server.url(rel), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    part = wait_for_part(vmctl, proc, MIB)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return part


def list_rows(vmctl):
    """`image list` as (fields of each row, the total line)."""
    out = vmctl.run("image", "list", check=0).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATE", "SIZE", "VMS", "PATH"]
    assert out[-1].startswith("Total: ")
    return [ln.split() for ln in out[1:-1]], out[-1]


def prune(vmctl, *args):
    return json.loads(vmctl.run("image", "prune", "--json", *args, check=0).stdout)


def test_killed_pull_is_partial_and_prune_removes_it(vmctl, server, files):
    rel = "big.img?rate=3000000&case=prune"
    url = server.url(rel)
    part = kill_mid_pull(vmctl, server, rel)
    d = os.path.dirname(part)
    # the killed pull still had its lock: a lock file nobody holds now
    lock = lock_of(vmctl, url)
    assert os.path.exists(lock)
    [e] = all_entries(vmctl)
    assert e["state"] == "partial" and e["name"] == "big.img" and e["url"] == url
    assert e["path"] == part and e["size"] == os.path.getsize(part)
    assert e["sha256"] is None and e["used_by"] == []
    assert e["disk_usage"] == du(d)
    rows, total = list_rows(vmctl)
    assert rows == [["big.img", "partial", *human(du(d)).split(), "-", part]]
    assert total == f"Total: {human(du(d))} on disk (1 entry)"
    # a dry run removes nothing
    freed = du(d)
    r = prune(vmctl, "--dry-run")
    assert r["dry_run"] is True and r["freed"] == freed
    assert os.path.exists(part) and os.path.exists(lock)
    # prune removes the part file (its whole entry) and the stale lock
    p = vmctl.run("image", "prune", check=0)
    assert f"Removed partial download big.img ({url}): {human(freed)}" in p.stdout
    assert f"Removed stale lock {lock}" in p.stdout
    assert f"Freed {human(freed)} ({freed} bytes)" in p.stdout
    assert not os.path.exists(d) and not os.path.exists(lock)
    assert all_entries(vmctl) == []
    assert vmctl.run("image", "prune", check=0).stdout == "Nothing to remove\n"
    # and the next pull downloads the image from the start
    p = pull(vmctl, server, rel)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["big"]
    assert server.ranges(rel) == [None, None]


def test_prune_removes_stale_locks_and_leftover_files(vmctl, server, files):
    rel = "disk.img?case=leftovers"
    path = pull(vmctl, server, rel).stdout.strip()
    d = os.path.dirname(path)
    locks = os.path.join(vmctl.data_dir, "locks")
    # a pull removes its lock file when it is done: none piles up
    assert [f for f in os.listdir(locks) if f.startswith("image-")] == []
    # what crashes leave: a temporary file of an atomic write, a lock file
    # of a URL without an entry (and files prune must not touch)
    tmp = os.path.join(d, ".image.json.tmp.4242")
    with open(tmp, "w") as f:
        f.write("{" * 5000)
    stale = lock_of(vmctl, server.url("gone.img"))
    open(stale, "w").close()
    store_lock = os.path.join(locks, "store.lock")
    other = os.path.exists(store_lock)
    freed = os.stat(tmp).st_blocks * 512 + os.stat(stale).st_blocks * 512
    assert freed > 0
    r = prune(vmctl)
    kinds = sorted((i["kind"], i["path"]) for i in r["removed"])
    assert kinds == [("lock", stale), ("temp", tmp)]
    assert r["freed"] == freed
    assert not os.path.exists(tmp) and not os.path.exists(stale)
    assert os.path.exists(store_lock) == other
    # the image is untouched and still a hit
    assert sorted(os.listdir(d)) == [".image.json", "disk.img"]
    assert pull(vmctl, server, rel).stdout.strip() == path
    assert server.count(rel) == 1
    with open(path, "rb") as f:
        assert f.read() == files["raw"]


def test_prune_never_touches_a_running_pull(vmctl, server, files):
    rel = "big.img?rate=2500000&case=running"
    url = server.url(rel)
    proc = vmctl.popen("image", "pull", "-q", url, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    part = wait_for_part(vmctl, proc, MIB)
    [e] = all_entries(vmctl)
    assert e["state"] == "downloading" and e["path"] == part
    for args in ([], ["--all"]):
        r = prune(vmctl, *args)
        assert r["removed"] == [] and r["freed"] == 0
        assert [(k["kind"], k["url"]) for k in r["kept"]] == [("busy", url)]
        assert os.path.exists(part) and os.path.exists(lock_of(vmctl, url))
    p = vmctl.run("image", "rm", url, check=1)
    assert "error[vm_manager::store::lock_failed]" in p.stderr
    assert f"a pull of {url} is in progress" in p.stderr and "\nhelp: " in p.stderr
    assert os.path.exists(part)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with open(out.strip(), "rb") as f:
        assert f.read() == files["big"]
    assert server.count(rel) == 1


def test_prune_never_touches_an_entry_whose_lock_is_held(vmctl, server):
    import fcntl
    url = server.url("big.img?case=held")
    d = plant_part(vmctl, url, b"\1" * 65536, {"version": 1, "url": url,
                                               "compression": "none"})
    os.makedirs(os.path.join(vmctl.data_dir, "locks"), exist_ok=True)
    fd = os.open(lock_of(vmctl, url), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert all_entries(vmctl)[0]["state"] == "downloading"
        r = prune(vmctl, "--all")
        assert r["removed"] == [] and [k["path"] for k in r["kept"]] == [d]
        assert sorted(os.listdir(d)) == [".download.json", ".download.part"]
        assert os.path.exists(lock_of(vmctl, url))
    finally:
        os.close(fd)
    [e] = all_entries(vmctl)
    assert e["state"] == "partial" and e["name"] == "big.img"
    r = prune(vmctl)
    assert sorted(i["kind"] for i in r["removed"]) == ["lock", "partial"]
    assert not os.path.exists(d)


def test_prune_all_keeps_images_vms_use(vmctl, server):
    used, unused = server.url("a/disk.img"), server.url("b/disk.img")
    pa = pull(vmctl, server, "a/disk.img").stdout.strip()
    pb = pull(vmctl, server, "b/disk.img").stdout.strip()
    vmctl.run("create", "--name", "vm1", "--image-url", used, check=0)
    by_url = {e["url"]: e for e in all_entries(vmctl)}
    assert by_url[used]["used_by"] == ["vm1"] and by_url[unused]["used_by"] == []
    rows, _ = list_rows(vmctl)
    assert {r[-1]: r[-2] for r in rows} == {pa: "vm1", pb: "-"}
    # without --all, complete images stay
    assert prune(vmctl)["removed"] == []
    size_b = du(os.path.dirname(pb))
    p = vmctl.run("image", "prune", "--all", check=0)
    assert f"Removed unused image disk.img ({unused}): {human(size_b)}" in p.stdout
    assert f"Freed {human(size_b)} ({size_b} bytes)" in p.stdout
    assert not os.path.exists(os.path.dirname(pb)) and os.path.exists(pa)
    assert [e["url"] for e in all_entries(vmctl)] == [used]
    # rm says why it refuses, the same check
    p = vmctl.run("image", "rm", used, check=1)
    assert "error[vm_manager::image::in_use]" in p.stderr and "vm1" in p.stderr
    vmctl.run("destroy", "vm1", check=0)
    r = prune(vmctl, "--all")
    assert [(i["kind"], i["url"]) for i in r["removed"]] == [("unused", used)]
    assert all_entries(vmctl) == []


def test_rm_removes_a_partial_entry(vmctl, server):
    rel = "big.img?rate=3000000&case=rmpartial"
    part = kill_mid_pull(vmctl, server, rel, "--name", "my-image")
    [e] = all_entries(vmctl)
    assert e["state"] == "partial" and e["name"] == "my-image"
    # by the name the pull was given
    p = vmctl.run("image", "rm", "my-image", check=0)
    assert p.stdout == f"Removed partial download my-image ({server.url(rel)})\n"
    assert not os.path.exists(os.path.dirname(part))
    assert all_entries(vmctl) == []
    # and by URL
    part = kill_mid_pull(vmctl, server, rel)
    vmctl.run("image", "rm", server.url(rel), check=0)
    assert not os.path.exists(os.path.dirname(part))
    p = vmctl.run("image", "rm", "my-image", check=1)
    assert "error[vm_manager::image::not_found]" in p.stderr


def test_list_sizes_and_total_match_the_files(vmctl, server, files):
    pa = pull(vmctl, server, "a/disk.img").stdout.strip()
    praw = pull(vmctl, server, "disk.img.zst").stdout.strip()
    url = server.url("big.img?case=sizes")
    dp = plant_part(vmctl, url, b"\7" * (300 * 1024 + 5), {"version": 1, "url": url,
                                                          "compression": "none"})
    es = all_entries(vmctl)
    dirs = {os.path.dirname(pa): "complete", os.path.dirname(praw): "complete",
            dp: "partial"}
    assert sorted(os.path.dirname(e["path"]) for e in es) == sorted(dirs)
    for e in es:
        d = os.path.dirname(e["path"])
        assert e["state"] == dirs[d]
        assert e["disk_usage"] == du(d)
        assert e["size"] == os.path.getsize(e["path"])
    rows, total = list_rows(vmctl)
    got = {r[-1]: (r[1], " ".join(r[2:4])) for r in rows}
    assert got == {e["path"]: (e["state"], human(du(os.path.dirname(e["path"]))))
                   for e in es}
    assert total == f"Total: {human(sum(du(d) for d in dirs))} on disk (3 entries)"


def usage_lines(text):
    """The synopsis lines of a --help text, continuation lines joined."""
    block = text.split("Usage:\n", 1)[1].split("\n\n", 1)[0]
    lines = []
    for ln in block.splitlines():
        if ln.startswith("  vmctl "):
            lines.append(ln.strip())
        else:
            lines[-1] += " " + ln.strip()
    return lines


def test_usage_lines_list_every_option(vmctl):
    import re
    top = usage_lines(vmctl.run("image", "--help", check=0).stdout)
    for sub in ("pull", "list", "inspect", "rm", "prune"):
        text = vmctl.run("image", sub, "--help", check=0).stdout
        opts = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", text, re.M)) - {"--help"}
        [own] = usage_lines(text)
        [in_top] = [u for u in top if u.startswith(f"vmctl image {sub} ")]
        assert own == in_top, sub
        assert opts <= set(re.findall(r"--[a-z][a-z0-9-]*", own)), (sub, own)
    pull_usage = [u for u in top if u.startswith("vmctl image pull ")][0]
    assert "--stall-timeout SECONDS" in pull_usage


# ---- hostile servers: documents served as images, bombs, devices, trickles,
# redirects off http(s) ----

IO_ERR = "error[vm_manager::io]"
FMT_ERR = "error[vm_manager::image::format_detection_failed]"


def page(head, size=4096):
    """An error page as a server sends it: markup, a non-ASCII byte (so it is
    not plain ASCII text), padded to a multiple of 512 bytes (so it would
    pass for a raw disk)."""
    body = head + "<p>Sign in \u00a9 2026 Example Corp</p>\n".encode() * 4
    return body + b" " * (size - len(body))


@pytest.fixture(scope="module")
def hostile(files):
    root = files["root"]
    pages = {
        "page200.html": page(b"<!DOCTYPE html>\n<html><head><title>x</title></head>"),
        "bom.img": page(b"\xef\xbb\xbf \r\n\t<HTML lang=en>"),
        "xml.img": page(b"<?xml version='1.0'?><error/>"),
        "head.img": page(b"\n\n<head><meta charset=utf-8>"),
        "body.img": page(b"<BoDy>"),
        "utf16.img": page("\ufeff<html><body>".encode("utf-16-le")),
    }
    for name, data in pages.items():
        assert len(data) % 512 == 0
        (root / name).write_bytes(data)
    (root / "tiny.img").write_bytes(bytes(range(256)) * 6)
    # 50 MiB of zeros made small: the bombs a hostile server would send
    (root / "zeros").write_bytes(b"")
    with open(root / "zeros", "wb") as f:
        f.truncate(50 * MIB)
    subprocess.run(["zstd", "-q", "-f", str(root / "zeros"), "-o", str(root / "bomb.img.zst")],
                   check=True)
    with gzip.GzipFile(root / "bomb.img.gz", "wb", 9) as g:
        for _ in range(50):
            g.write(b"\0" * MIB)
    with lzma.LZMAFile(root / "bomb.img.xz", "wb", preset=0) as x:
        for _ in range(50):
            x.write(b"\0" * MIB)
    os.unlink(root / "zeros")
    # 100 MiB of a non-zero byte: a bomb that takes disk space (no holes)
    with open(root / "ones.img.zst", "wb") as f:
        z = subprocess.Popen(["zstd", "-q", "-c"], stdin=subprocess.PIPE, stdout=f)
        for _ in range(100):
            z.stdin.write(b"\1" * MIB)
        z.stdin.close()
        assert z.wait() == 0
    return pages


@pytest.mark.parametrize("ctype", ["text/html", "text/html; charset=utf-8", "TEXT/HTML",
                                   "text/plain", "application/xhtml+xml"])
def test_document_content_type_is_refused(vmctl, server, hostile, ctype):
    rel = "disk.img?ctype=" + ctype.replace(" ", "%20").replace(";", "%3B").replace(
        "+", "%2B")
    p = pull(vmctl, server, rel, check=1)
    assert FMT_ERR in p.stderr
    assert f"{server.url(rel)}: HTTP 200 with Content-Type '{ctype}'" in p.stderr
    assert "not a disk image" in p.stderr and "\nhelp: " in p.stderr
    assert_nothing_cached(vmctl)
    assert server.count(rel) == 1  # not retried


@pytest.mark.parametrize("name", ["page200.html", "bom.img", "xml.img", "head.img",
                                  "body.img", "utf16.img"])
@pytest.mark.parametrize("ctype", ["application/octet-stream", ""])
def test_body_that_starts_like_markup_is_refused(vmctl, server, hostile, name, ctype):
    rel = f"{name}?ctype={ctype}"
    p = pull(vmctl, server, rel, check=1)
    assert FMT_ERR in p.stderr
    shown = ctype or "none"
    assert (f"{server.url(rel)} (HTTP 200, Content-Type '{shown}') starts like an HTML or "
            "XML document, not a disk image") in p.stderr
    assert "\nhelp: " in p.stderr
    assert_nothing_cached(vmctl)


def test_markup_by_file_url_is_refused(vmctl, files, hostile):
    url = "file://" + str(files["root"] / "page200.html")
    p = vmctl.run("image", "pull", "-q", url, check=1)
    assert FMT_ERR in p.stderr and f"{url} starts like an HTML" in p.stderr
    assert_nothing_cached(vmctl)
    # nor is it a disk for inspect or create --image
    path = str(files["root"] / "page200.html")
    p = vmctl.run("image", "inspect", path, check=1)
    assert FMT_ERR in p.stderr
    assert f"'{path}' starts like an HTML or XML document" in p.stderr


@pytest.mark.parametrize("ctype", ["", "application/octet-stream", "binary/octet-stream",
                                   "application/x-qemu-disk"])
def test_real_image_without_a_document_type_is_pulled(vmctl, server, files, ctype):
    p = pull(vmctl, server, f"disk.img.zst?ctype={ctype}")
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]


@pytest.mark.parametrize("bomb", ["bomb.img.zst", "bomb.img.gz", "bomb.img.xz"])
def test_max_size_stops_a_decompression_bomb(vmctl, server, hostile, bomb):
    t0 = time.monotonic()
    p = pull(vmctl, server, bomb, "--max-size", "10M", check=1)
    assert time.monotonic() - t0 < 10
    assert DL_ERR in p.stderr
    assert (f"{server.url(bomb)} is larger than the size limit of 10.0 MiB (10485760 bytes)"
            in p.stderr)
    assert "help: if the image is really this big, raise the limit (--max-size" in p.stderr
    assert_nothing_cached(vmctl)
    assert server.count(bomb) == 1  # not retried


def test_max_size_none_and_a_limit_it_fits(vmctl, server, hostile):
    for i, limit in enumerate(["none", "50M", "52428800"]):
        rel = f"bomb.img.zst?case=fits{i}"
        path = pull(vmctl, server, rel, "--max-size", limit).stdout.strip()
        assert os.path.getsize(path) == 50 * MIB
        assert os.stat(path).st_blocks == 0  # zeros stay holes
    p = pull(vmctl, server, "bomb.img.zst?case=fits3", "--max-size", "52428799", check=1)
    assert "larger than the size limit" in p.stderr


def test_max_size_refuses_an_announced_length(vmctl, server):
    rel = "big.img?case=announced"
    p = pull(vmctl, server, rel, "--max-size", "1M", check=1)
    assert (f"{server.url(rel)} announces 8388608 bytes, more than the size limit of 1.0 MiB "
            "(1048576 bytes)") in p.stderr
    assert_nothing_cached(vmctl)
    # without a length it stops as it writes, and keeps no part to resume
    rel = "big.img?nolength=1&case=unannounced"
    p = pull(vmctl, server, rel, "--max-size", "1M", check=1)
    assert f"{server.url(rel)} sent " in p.stderr
    assert "bytes, more than the size limit of 1.0 MiB (1048576 bytes)" in p.stderr
    assert_nothing_cached(vmctl)
    assert server.count(rel) == 1


def test_create_image_url_max_size(vmctl, server, hostile):
    url = server.url("bomb.img.zst?case=create")
    p = vmctl.run("create", "--name", "bombed", "--image-url", url, "--max-size", "10M",
                  check=1)
    assert DL_ERR in p.stderr and "larger than the size limit of 10.0 MiB" in p.stderr
    assert_nothing_cached(vmctl)
    assert "bombed" not in vmctl.run("list", check=0).stdout
    p = vmctl.run("create", "--name", "x", "--image", "/nonexistent", "--max-size", "1G",
                  check=2)
    assert "--max-size limits a download: it needs --image-url" in p.stderr


@pytest.mark.parametrize("bad", ["0", "abc", "1e3", "0x10", "-1", "10Q", "", "9E"])
def test_max_size_usage_errors(vmctl, bad):
    p = vmctl.run("image", "pull", "--max-size", bad, "http://127.0.0.1:1/x.img", check=2)
    assert p.stderr.startswith("vmctl image pull: --max-size: ")
    assert "none" in p.stderr  # the hint says how to turn it off


def test_file_url_refuses_devices_fifos_and_directories(vmctl, tmp_path, files):
    fifo = tmp_path / "fifo.img"
    os.mkfifo(fifo)
    link = tmp_path / "link.img"
    os.symlink(files["root"] / "disk.img", link)
    for path, what in [("/dev/zero", "a character device"),
                       ("/dev/urandom", "a character device"),
                       (str(fifo), "a FIFO"), (str(tmp_path), "a directory")]:
        url = "file://" + path
        t0 = time.monotonic()
        p = vmctl.run("image", "pull", "-q", url, check=1, timeout=20)
        assert time.monotonic() - t0 < 5
        assert DL_ERR in p.stderr
        assert f"{url}: refused: '{path}' is {what}, not a regular file" in p.stderr
        assert "\nhelp: " in p.stderr
        assert_nothing_cached(vmctl)
    # a symlink to a regular file is a regular file
    p = vmctl.run("image", "pull", "-q", "file://" + str(link), check=0)
    with open(p.stdout.strip(), "rb") as f:
        assert f.read() == files["raw"]


def run_on_small_fs(vmctl, size_mib, script):
    """Run a shell script with XDG_DATA_HOME on a fresh tmpfs of size_mib
    MiB, in a private mount namespace (unshare: as root, or in a user
    namespace otherwise). Returns the CompletedProcess."""
    env = dict(vmctl.env, VMCTL=vmctl.bin)
    # Propagation is left alone by unshare (making "/" private fails in a
    # chroot, where "/" is no mount point) and instead the mount holding
    # XDG_DATA_HOME is made private inside the new namespace, so the tmpfs
    # never propagates out of it.
    cmd = (["unshare", "--mount", "--propagation", "unchanged"]
           + ([] if os.geteuid() == 0 else ["--map-root-user"]))
    full = ('mp=$(findmnt -n -o TARGET -T "$XDG_DATA_HOME") && '
            'mount --make-rprivate "$mp" || exit 98\n'
            f'mount -t tmpfs -o size={size_mib}m tmpfs "$XDG_DATA_HOME" || exit 99\n'
            + script)
    p = subprocess.run(cmd + ["sh", "-c", full], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode not in (98, 99), p.stderr
    assert p.stdout, (p.returncode, p.stderr)
    return p


def test_free_space_reserve_stops_a_bomb(vmctl, server, hostile, files):
    url = server.url("ones.img.zst")
    small = server.url("disk.img?case=smallfs")
    p = run_on_small_fs(vmctl, 64, f"""
        "$VMCTL" image pull -q --max-size none '{url}'; echo "rc=$?"
        "$VMCTL" image list --json
        stat -f -c 'free=%a*%S' "$XDG_DATA_HOME"
        "$VMCTL" image pull -q '{small}'; echo "rc=$?"
        """)
    out = p.stdout.splitlines()
    assert out[0] == "rc=1", p.stderr
    assert IO_ERR in p.stderr
    assert (f"stopped downloading {url} after" in p.stderr and
            "filesystem has" in p.stderr and
            "a download leaves at least 3.2 MiB (1 GiB or 5 % of the filesystem)" in p.stderr)
    assert "help: free space on the image cache's filesystem" in p.stderr
    # nothing left, the space is back, and an image that fits is pulled
    assert json.loads("\n".join(out[1:-3])) == []
    free = eval(out[-3].split("=", 1)[1])
    assert free > 60 * MIB
    assert out[-1] == "rc=0", p.stderr
    assert out[-2].endswith("/disk.img")


def test_killed_bomb_pull_is_listed_partial(vmctl, server, hostile):
    rel = "bomb.img.zst?rate=100&case=killedbomb"
    part = kill_mid_pull(vmctl, server, rel)
    [e] = all_entries(vmctl)
    assert e["state"] == "partial" and e["path"] == part and e["name"] == "bomb.img"
    assert e["size"] == os.path.getsize(part) and e["size"] >= MIB
    assert e["compression"] == "zstd" and e["url"] == server.url(rel)
    rows, _ = list_rows(vmctl)
    assert rows[0][:2] == ["bomb.img", "partial"]
    vmctl.run("image", "rm", "bomb.img", check=0)
    assert_nothing_cached(vmctl)


def test_low_speed_limit_catches_a_trickle(vmctl, server, hostile):
    rel = "big.img?rate=1&case=trickle"
    t0 = time.monotonic()
    p = pull(vmctl, server, rel, "--low-speed-limit", "1000", "--low-speed-time", "1",
             check=1, timeout=60)
    took = time.monotonic() - t0
    assert DL_ERR in p.stderr
    assert (f"{server.url(rel)}: the download was too slow: less than 1000 bytes/s for 1 s"
            in p.stderr)
    assert "giving up after 4 attempts" in p.stderr
    assert took < 30
    assert entries(vmctl) == []
    # a limit of 0 turns the check off: the stall timer alone watches
    rel = "tiny.img?rate=500&case=nolimit"
    t0 = time.monotonic()
    path = pull(vmctl, server, rel, "--low-speed-limit", "0", "--low-speed-time", "1",
                timeout=60).stdout.strip()
    assert time.monotonic() - t0 > 2  # slower than 1000 bytes/s for more than 1 s
    with open(path, "rb") as f:
        assert f.read() == bytes(range(256)) * 6
    assert server.count(rel) == 1


def test_redirect_to_file_url_is_refused_and_says_so(vmctl, server):
    rel = "disk.img?location=file:///etc/passwd"
    p = pull(vmctl, server, rel, check=1)
    assert DL_ERR in p.stderr
    assert (f"{server.url(rel)}: refused the HTTP 302 redirect to file:///etc/passwd: not an "
            "http(s) URL") in p.stderr
    assert "help: a download follows redirects to http:// and https:// only" in p.stderr
    assert "HTTP 302 from" not in p.stderr
    assert_nothing_cached(vmctl)
    assert server.count(rel) == 1


def test_redirect_loop_says_so(vmctl, server):
    rel = "disk.img?loop=1"
    p = pull(vmctl, server, rel, check=1)
    assert DL_ERR in p.stderr
    assert (f"{server.url(rel)}: gave up after 10 redirects (the last to {server.url(rel)})"
            in p.stderr)
    assert "redirect loop" in p.stderr and "HTTP 302 from" not in p.stderr
    assert_nothing_cached(vmctl)
