# SPDX-License-Identifier: MIT
"""Concurrent vmctl processes never lose an entry; kill -9 never corrupts
vms.json."""
import json
import os
import random
import signal
import subprocess
import time


def test_32_concurrent_creates(vmctl, image):
    procs = [vmctl.popen("create", "--name", f"vm{i:02d}", "--image", image,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(32)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    doc = json.load(open(vmctl.store_path))
    assert sorted(doc["vms"]) == [f"vm{i:02d}" for i in range(32)]
    assert all(v["state"] == "prepared" for v in doc["vms"].values())
    assert len(os.listdir(os.path.join(vmctl.data_dir, "vms"))) == 32


def test_concurrent_creates_of_one_name(vmctl, image):
    procs = [vmctl.popen("create", "--name", "same", "--image", image,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sum(1 for rc, _ in results if rc == 0) == 1
    for rc, err in results:
        if rc:
            assert "already_exists" in err, err
    assert list(json.load(open(vmctl.store_path))["vms"]) == ["same"]


def test_8_concurrent_start_stop_on_one_vm(vmctl, image):
    vmctl.run("create", "--name", "one", "--image", image, check=0)
    for _ in range(3):
        procs = [vmctl.popen("start" if i % 2 == 0 else "stop", "one",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(8)]
        for p in procs:
            p.wait(timeout=120)
            err = p.stderr.read()
            # each either did its job or was refused for the state it found
            assert p.returncode == 0 or "invalid_state" in err, err
        doc = json.load(open(vmctl.store_path))
        assert list(doc["vms"]) == ["one"]
        state = doc["vms"]["one"]["state"]
        assert state in ("running", "stopped")
        # the recorded state is consistent with what the next command sees
        p = vmctl.run("start", "one")
        if state == "running":
            assert p.returncode == 1 and "it is running" in p.stderr
            vmctl.run("stop", "one", check=0)
        else:
            assert p.returncode == 0
            vmctl.run("stop", "one", check=0)


def test_kill_9_during_create_never_corrupts(vmctl, image):
    rng = random.Random(1234)
    vmctl.run("create", "--name", "keep", "--image", image, check=0)
    for i in range(50):
        p = vmctl.popen("create", "--name", f"k{i}", "--image", image,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.004))
        p.send_signal(signal.SIGKILL)
        p.wait()
        # vms.json always parses and never loses the earlier entry
        doc = json.load(open(vmctl.store_path))
        assert "keep" in doc["vms"]
        for name, vm in doc["vms"].items():
            assert vm["state"] in ("preparing", "prepared"), (name, vm)
    # leftovers of killed creates can be cleaned up with destroy
    doc = json.load(open(vmctl.store_path))
    for name in doc["vms"]:
        if name != "keep":
            vmctl.run("destroy", name, check=0)
    assert list(json.load(open(vmctl.store_path))["vms"]) == ["keep"]
