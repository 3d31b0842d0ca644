# SPDX-License-Identifier: MIT
"""The imperative commands end to end on the noop backend: output, stderr,
exit codes, and every error path."""
import json
import os
import re
import stat

import pytest


def create(vmctl, image, name="web", *extra):
    return vmctl.run("create", "--name", name, "--image", image, *extra, check=0)


def test_create_records_vm(vmctl, image):
    p = create(vmctl, image, "web", "--vcpus", "2", "--memory", "2048", "--disk", "20")
    assert p.stdout == "Created VM 'web' (noop backend)\n"
    assert p.stderr == ""
    doc = json.load(open(vmctl.store_path))
    assert doc["version"] == 1
    vm = doc["vms"]["web"]
    assert vm["name"] == "web"
    assert vm["backend"] == "noop"
    assert vm["state"] == "prepared"
    assert vm["vcpus"] == 2
    assert vm["memory_mb"] == 2048
    assert vm["disk_gb"] == 20
    assert vm["network"] == {"type": "User"}
    assert vm["image_path"] == os.path.realpath(image)
    assert vm["work_dir"] == os.path.join(vmctl.data_dir, "vms", "web")
    assert re.fullmatch(r"[0-9a-f]{32}", vm["id"])
    # private directories and files
    for d in (vmctl.data_dir, os.path.join(vmctl.data_dir, "vms"), vm["work_dir"]):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    assert stat.S_IMODE(os.stat(vmctl.store_path).st_mode) == 0o600


def test_create_bridge_means_tap(vmctl, image):
    create(vmctl, image, "t", "--bridge", "br7")
    vm = json.load(open(vmctl.store_path))["vms"]["t"]
    assert vm["network"] == {"type": "Tap", "bridge": "br7"}


def test_create_start(vmctl, image):
    p = create(vmctl, image, "web", "--start")
    assert p.stdout == "Created VM 'web' (noop backend)\nStarted VM 'web'\n"
    assert json.load(open(vmctl.store_path))["vms"]["web"]["state"] == "running"


def test_full_lifecycle_and_list(vmctl, image):
    create(vmctl, image, "b")
    create(vmctl, image, "a", "--vcpus", "4", "--memory", "512")
    p = vmctl.run("list", check=0)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["NAME", "BACKEND", "VCPUS", "MEM", "NETWORK", "PID", "SSH",
                                "PORTS", "STATE"]
    assert lines[1].split() == ["a", "noop", "4", "512", "user", "-", "-", "-", "prepared"]
    assert lines[2].split() == ["b", "noop", "1", "1024", "user", "-", "-", "-", "prepared"]
    # columns line up
    assert lines[0].index("BACKEND") == lines[1].index("noop") == lines[2].index("noop")

    assert vmctl.run("start", "a", check=0).stdout == "Started VM 'a'\n"
    assert vmctl.run("suspend", "a", check=0).stdout == "Suspended VM 'a'\n"
    assert vmctl.run("status", "a", "--json", check=0)
    assert json.loads(vmctl.run("status", "a", "--json").stdout)["state"] == "suspended"
    assert vmctl.run("resume", "a", check=0).stdout == "Resumed VM 'a'\n"
    assert vmctl.run("stop", "a", check=0).stdout == "Stopped VM 'a'\n"
    assert vmctl.run("start", "a", check=0).stdout == "Started VM 'a'\n"
    assert vmctl.run("stop", "--timeout", "5", "a", check=0).stdout == "Stopped VM 'a'\n"
    assert vmctl.run("destroy", "a", check=0).stdout == "Destroyed VM 'a'\n"
    assert not os.path.exists(os.path.join(vmctl.data_dir, "vms", "a"))
    names = [v["name"] for v in json.loads(vmctl.run("list", "--json", check=0).stdout)]
    assert names == ["b"]


def test_list_empty(vmctl):
    p = vmctl.run("list", check=0)
    assert p.stdout.split() == ["NAME", "BACKEND", "VCPUS", "MEM", "NETWORK", "PID", "SSH",
                                "PORTS", "STATE"]
    assert json.loads(vmctl.run("list", "--json", check=0).stdout) == []


def test_list_json_is_stable(vmctl, image):
    create(vmctl, image, "j", "--disk", "3", "--bridge", "br0")
    (vm,) = json.loads(vmctl.run("list", "--json", check=0).stdout)
    assert list(vm) == ["name", "id", "backend", "state", "vcpus", "memory_mb", "disk_gb",
                        "network", "pid", "ssh_port", "ssh_user", "mac_addr", "vnc_addr",
                        "work_dir", "image_path", "image_url", "overlay_path",
                        "seed_iso_path", "ssh_key_path", "created_at", "forwards",
                        "shares", "host", "uri", "pool"]
    assert vm["network"] == {"type": "tap", "bridge": "br0"}
    assert vm["disk_gb"] == 3
    assert vm["pid"] is None
    assert vm["ssh_user"] == "vm"


def test_status_text(vmctl, image):
    create(vmctl, image, "s", "--vcpus", "3", "--bridge", "brx")
    out = vmctl.run("status", "s", check=0).stdout
    fields = dict(re.match(r"(\S[^:]*):\s+(.*)", l).groups() for l in out.splitlines())
    assert fields["Name"] == "s"
    assert fields["Backend"] == "noop"
    assert fields["State"] == "prepared"
    assert fields["vCPUs"] == "3"
    assert fields["Memory"] == "1024 MB"
    assert fields["Disk"] == "as base image"
    assert fields["Network"] == "tap (bridge brx)"
    assert fields["Work dir"] == os.path.join(vmctl.data_dir, "vms", "s")
    assert fields["PID"] == "-"
    assert fields["SSH port"] == "-"
    for key in ("ID", "Overlay", "Seed ISO", "VNC", "MAC", "Image", "Created"):
        assert key in fields


@pytest.mark.parametrize("op,state,fragment", [
    ("resume", "prepared", "cannot resume VM 'v': it is prepared"),
    ("stop", "prepared", "cannot stop VM 'v': it is prepared"),
    ("suspend", "prepared", "cannot suspend VM 'v': it is prepared"),
])
def test_invalid_transitions_from_prepared(vmctl, image, op, state, fragment):
    create(vmctl, image, "v")
    p = vmctl.run(op, "v", check=1)
    assert p.stdout == ""
    assert p.stderr.startswith("error[vm_manager::vm::invalid_state]: " + fragment + "\n")
    assert "\nhelp: " in p.stderr
    # the failed command changed nothing
    assert json.load(open(vmctl.store_path))["vms"]["v"]["state"] == state


def test_invalid_transitions_running(vmctl, image):
    create(vmctl, image, "v", "--start")
    p = vmctl.run("start", "v", check=1)
    assert p.stderr == ("error[vm_manager::vm::invalid_state]: cannot start VM 'v': it is "
                        "running\nhelp: it is already running; `vmctl stop NAME` first to "
                        "restart it\n")
    p = vmctl.run("resume", "v", check=1)
    assert "cannot resume VM 'v': it is running" in p.stderr
    vmctl.run("suspend", "v", check=0)
    p = vmctl.run("suspend", "v", check=1)
    assert "it is suspended" in p.stderr
    p = vmctl.run("start", "v", check=1)
    assert "help: it is paused: run `vmctl resume NAME`" in p.stderr
    vmctl.run("stop", "v", check=0)
    p = vmctl.run("stop", "v", check=1)
    assert "cannot stop VM 'v': it is stopped" in p.stderr


@pytest.mark.parametrize("cmd", ["start", "stop", "suspend", "resume", "destroy", "status",
                                 "log"])
def test_unknown_vm(vmctl, cmd):
    p = vmctl.run(cmd, "ghost", check=1)
    assert p.stdout == ""
    assert p.stderr == ("error[vm_manager::vm::not_found]: no VM named 'ghost'\n"
                        "help: run `vmctl list` to see the registered VMs\n")


def test_duplicate_create(vmctl, image):
    create(vmctl, image, "d")
    p = vmctl.run("create", "--name", "d", "--image", image, check=1)
    assert p.stderr.startswith("error[vm_manager::vm::already_exists]: a VM named 'd' "
                               "already exists\nhelp: ")
    assert len(json.load(open(vmctl.store_path))["vms"]) == 1


@pytest.mark.parametrize("name,fragment", [
    ("-x", None),  # looks like an option: a usage error
    (".hidden", "must not start with '.'"),
    ("a/b", "contains '/' at position 2"),
    ("a b", "contains ' ' at position 2"),
    ("x" * 64, "is 64 characters long; the limit is 63"),
    ("", "VM name is empty"),
])
def test_invalid_names(vmctl, image, name, fragment):
    p = vmctl.run("create", "--name=" + name, "--image", image)
    assert p.returncode == 1
    assert p.stderr.startswith("error[vm_manager::vm::invalid_name]: ")
    if fragment:
        assert fragment in p.stderr
    assert "help: use 1-63 letters, digits" in p.stderr
    assert not os.path.exists(vmctl.store_path) or \
        json.load(open(vmctl.store_path))["vms"] == {}


@pytest.mark.parametrize("cmd", ["start", "status", "destroy"])
def test_invalid_name_operand(vmctl, cmd):
    p = vmctl.run(cmd, "../etc", check=1)
    assert p.stderr.startswith("error[vm_manager::vm::invalid_name]: ")


def test_missing_image(vmctl, tmp_path):
    p = vmctl.run("create", "--name", "m", "--image", str(tmp_path / "nope.qcow2"), check=1)
    assert p.stderr.startswith("error[vm_manager::image::not_found]: cannot read image '")
    assert "No such file or directory" in p.stderr
    assert "help: " in p.stderr
    assert not os.path.exists(os.path.join(vmctl.data_dir, "vms", "m"))


@pytest.mark.parametrize("args,message", [
    ([], "--name is required"),
    (["--name", "x"], "give exactly one of --image and --image-url"),
    (["--name", "x", "--image", "i", "--image-url", "http://127.0.0.1:1/x.img"],
     "give exactly one of --image and --image-url"),
    (["--name", "x", "--image", "i", "--sha256", "ab"],
     "--sha256 checks a download: it needs --image-url"),
    (["--name", "x", "--image", "i", "--vcpus", "0"], "--vcpus must be between 1 and 255, got '0'"),
    (["--name", "x", "--image", "i", "--vcpus", "two"], "--vcpus needs a whole number, got 'two'"),
    (["--name", "x", "--image", "i", "--memory", "-5"], "--memory needs a whole number, got '-5'"),
    (["--name", "x", "--image", "i", "--disk", "big"], "--disk needs a whole number, got 'big'"),
    (["--name", "x", "--image", "i", "--vcpus", "99999999999999999999"],
     "--vcpus needs a whole number"),
    (["--name", "x", "--image", "i", "--bogus"], "unknown option '--bogus'"),
    (["--name", "x", "--image", "i", "extra"], "unexpected argument 'extra'"),
    (["--name"], "option '--name' needs a value"),
    (["--name", "x", "--image", "i", "--cloud-init", "a", "--ssh-key", "b"],
     "--cloud-init and --ssh-key cannot be combined"),
])
def test_create_usage_errors(vmctl, args, message):
    p = vmctl.run("create", *args, check=2)
    assert p.stdout == ""
    assert p.stderr.startswith("vmctl create: " + message)
    assert "Usage:\n  vmctl create --name NAME --image PATH [OPTIONS]\n" in p.stderr
    assert not os.path.exists(vmctl.store_path)


def test_create_missing_ssh_key_file(vmctl, image, tmp_path):
    p = vmctl.run("create", "--name", "k", "--image", image, "--ssh-key",
                  str(tmp_path / "none.pub"), check=1)
    assert "cannot open --ssh-key file" in p.stderr
    assert "help: check the path given to --ssh-key" in p.stderr


@pytest.mark.parametrize("args,message", [
    (["stop"], "missing VM name"),
    (["stop", "a", "b"], "unexpected argument 'b'"),
    (["stop", "--timeout", "soon", "a"], "--timeout needs a whole number, got 'soon'"),
    (["stop", "--timeout"], "option '--timeout' needs a value"),
    (["start"], "missing VM name"),
    (["log", "a", "--tail", "x"], "--tail needs a whole number, got 'x'"),
    (["list", "extra"], "unexpected argument 'extra'"),
    (["status", "-z", "a"], "unknown option '-z'"),
])
def test_operand_errors(vmctl, args, message):
    p = vmctl.run(*args, check=2)
    assert p.stderr.startswith(f"vmctl {args[0]}: {message}"), p.stderr


def test_log(vmctl, image):
    create(vmctl, image, "l")
    p = vmctl.run("log", "l", check=0)
    assert p.stdout == ""
    assert p.stderr == "vmctl: VM 'l' has no logs yet\n"
    wd = os.path.join(vmctl.data_dir, "vms", "l")
    with open(os.path.join(wd, "console.log"), "w") as f:
        f.write("".join(f"boot {i}\n" for i in range(1, 101)))
    with open(os.path.join(wd, "provision.log"), "w") as f:
        f.write("step 1\nstep 2")  # no final newline
    p = vmctl.run("log", "l", "--console", "--tail", "3", check=0)
    assert p.stdout == "boot 98\nboot 99\nboot 100\n"
    p = vmctl.run("log", "l", "--console", "-n", "0", check=0)
    assert p.stdout.count("\n") == 100
    p = vmctl.run("log", "l", "--provision", check=0)
    assert p.stdout == "step 1\nstep 2\n"
    p = vmctl.run("log", "l", "--tail", "1", check=0)
    assert p.stdout == "==> console.log <==\nboot 100\n==> provision.log <==\nstep 2\n"
    p = vmctl.run("log", "l", "--tail", "500", "--console", check=0)
    assert p.stdout.startswith("boot 1\n")


def test_destroy_in_any_state(vmctl, image):
    for state_cmds in ([], ["start"], ["start", "suspend"], ["start", "stop"]):
        create(vmctl, image, "z")
        for c in state_cmds:
            vmctl.run(c, "z", check=0)
        vmctl.run("destroy", "z", check=0)
        assert json.load(open(vmctl.store_path))["vms"] == {}


def test_backend_env(vmctl, image):
    p = vmctl.run("create", "--name", "e", "--image", image, env={"VMCTL_BACKEND": "xen"},
                  check=1)
    assert p.stderr.startswith("error[vm_manager::backend::not_available]: "
                               "VMCTL_BACKEND='xen' names no backend\n")


def test_unreadable_store_is_never_overwritten(vmctl, image):
    os.makedirs(vmctl.data_dir, exist_ok=True)
    garbage = '{"version": 1, "vms": {"a": {"vcpus": 2}'  # truncated
    with open(vmctl.store_path, "w") as f:
        f.write(garbage)
    for args in (["list"], ["create", "--name", "n", "--image", image], ["start", "a"],
                 ["status", "a"], ["destroy", "a"]):
        p = vmctl.run(*args, check=1)
        assert p.stderr.startswith("error[vm_manager::store::corrupt]: " + vmctl.store_path +
                                   ":1:"), p.stderr
        assert "help: " in p.stderr
    assert open(vmctl.store_path).read() == garbage


def test_store_wrong_type_named(vmctl):
    os.makedirs(vmctl.data_dir, exist_ok=True)
    with open(vmctl.store_path, "w") as f:
        f.write('{"version": 1, "vms": {"a": {"memory_mb": "lots"}}}')
    p = vmctl.run("list", check=1)
    assert p.stderr.startswith(
        "error[vm_manager::store::corrupt]: " + vmctl.store_path +
        ": VM 'a': field \"memory_mb\" must be an integer from 1 to ")


def test_reference_store_is_read_and_upgraded(vmctl, image):
    os.makedirs(vmctl.data_dir, exist_ok=True)
    old = {"old": {"id": "abc123", "name": "old", "backend": "noop",
                   "work_dir": os.path.join(vmctl.data_dir, "vms", "old"), "vcpus": 2,
                   "memory_mb": 2048, "network": {"type": "User"}, "extra_field": [1]}}
    with open(vmctl.store_path, "w") as f:
        json.dump(old, f)
    p = vmctl.run("list", check=0)
    assert p.stdout.splitlines()[1].split() == ["old", "noop", "2", "2048", "user", "-", "-",
                                                "-", "stopped"]
    create(vmctl, image, "new")
    doc = json.load(open(vmctl.store_path))
    assert doc["version"] == 1
    assert set(doc["vms"]) == {"old", "new"}
    assert doc["vms"]["old"]["extra_field"] == [1]


def test_data_dir_unwritable(tmp_path, image):
    from conftest import Vmctl
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "vmctl").write_text("not a directory")
    v = Vmctl(str(ro))
    p = v.run("list", check=1)
    assert p.stderr.startswith("error[vm_manager::io]: ")
    assert "is not a directory" in p.stderr


def test_log_env_filter(vmctl, image):
    p = vmctl.run("create", "--name", "g", "--image", image, env={"VMCTL_LOG": "manager=debug"},
                  check=0)
    assert "debug manager: preparing VM 'g' with the noop backend" in p.stderr
    p = vmctl.run("list", env={"VMCTL_LOG": "loud"}, check=0)
    assert p.stderr.startswith("warning: VMCTL_LOG='loud' is not understood")
