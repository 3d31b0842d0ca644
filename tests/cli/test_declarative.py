# SPDX-License-Identifier: MIT
"""The declarative commands and `vmctl ssh` on the noop backend: how often
`up` reads and writes vms.json, the errors and hints a new user meets
(unknown options, a missing --file, ssh without a name or before `up`, a
VM with no guest), settings checked before a VM is touched."""
import json
import re
import subprocess

from conftest import Vmctl


def project(tmp_path, image, body):
    (tmp_path / "VMFile.kdl").write_text(body.replace("IMAGE", image))
    return tmp_path


ONE = 'vm "a" {\n    image "IMAGE"\n}\n'
TWO = 'vm "a" {\n    image "IMAGE"\n}\nvm "b" {\n    image "IMAGE"\n}\n'


def store_passes(stderr):
    reads = re.findall(r"^trace store: read ", stderr, re.M)
    writes = re.findall(r"^trace store: wrote ", stderr, re.M)
    return len(reads), len(writes)


def test_up_of_a_new_vm_reads_and_writes_the_store_at_most_twice(vmctl, image, tmp_path):
    proj = project(tmp_path, image, ONE)
    p = vmctl.run("up", cwd=proj, env={"VMCTL_LOG": "store=trace"}, check=0)
    reads, writes = store_passes(p.stderr)
    assert reads <= 2 and writes <= 2, p.stderr
    assert writes == 2  # "preparing" first (crash safety), then "running"
    assert "[a] up in" in p.stdout and "(created)" in p.stdout
    assert json.loads(vmctl.run("status", "a", "--json", check=0).stdout)["state"] == "running"
    # a second VM in the same file does not make the first one's count grow:
    # each further VM costs its own two writes, and reads only when needed
    proj2 = tmp_path / "two"
    proj2.mkdir()
    project(proj2, image, TWO)
    p = vmctl.run("up", cwd=proj2, env={"VMCTL_LOG": "store=trace"}, check=0)
    reads, writes = store_passes(p.stderr)
    assert p.stdout.count("already running: skipped") == 1
    assert writes == 2 and reads <= 2, p.stderr


def test_phases_of_up_in_order(vmctl, image, tmp_path):
    proj = project(tmp_path, image, ONE)
    p = vmctl.run("up", cwd=proj, check=0)
    assert re.findall(r"^\[a\] (\S+)\s+done in", p.stdout, re.M) == ["create", "boot"]
    p = vmctl.run("reload", cwd=proj, check=0)
    lines = p.stdout.splitlines()
    assert lines[0] == "[a] destroyed"
    assert re.findall(r"^\[a\] (\S+)\s+done in", p.stdout, re.M) == ["create", "boot"]
    assert lines[-1].startswith("[a] reloaded in")


def test_up_with_provisioners_on_noop_says_there_is_no_guest(vmctl, image, tmp_path):
    proj = project(tmp_path, image, 'vm "p" {\n    image "IMAGE"\n    ssh { user "u"; }\n'
                   '    provision "shell" { inline "true"; }\n}\n')
    p = vmctl.run("up", cwd=proj, check=1)
    assert "ip_discovery_timeout" not in p.stderr
    assert p.stderr.startswith("error[vm_manager::backend::not_available]: "
                               "VM 'p' has no guest to reach (noop backend)\n")
    assert "help: the noop backend runs no guest" in p.stderr


def test_unknown_option_suggests_the_closest(vmctl):
    p = vmctl.run("list", "--jsn", check=2)
    assert p.stderr.startswith("vmctl list: unknown option '--jsn' (did you mean '--json'?)\n")
    p = vmctl.run("up", "--no-provison", check=2)
    assert "did you mean '--no-provision'?" in p.stderr
    p = vmctl.run("down", "--destroi=1", check=2)
    assert "did you mean '--destroy'?" in p.stderr
    p = vmctl.run("list", "--frobnicate", check=2)
    assert "did you mean" not in p.stderr


def test_declarative_options_shared(vmctl, image, tmp_path):
    proj = project(tmp_path, image, TWO)
    for cmd in ("up", "down", "reload", "provision"):
        p = vmctl.run(cmd, "--name", "nope", cwd=proj, check=1)
        assert "no VM named 'nope'" in p.stderr, (cmd, p.stderr)
        p = vmctl.run(cmd, "extra", cwd=proj, check=2)
        assert f"vmctl {cmd}: unexpected argument 'extra'" in p.stderr
        p = vmctl.run(cmd, "-f", str(proj / "VMFile.kdl"), "--name", "b", cwd="/", check=0)
    p = vmctl.run("down", "--destroy", "--name", "b", cwd=proj, check=0)
    assert p.stdout == "[b] destroyed\n"


def test_ssh_hints(vmctl, image, tmp_path):
    # no VMFile here and no name: name the VM
    p = vmctl.run("ssh", cwd=tmp_path, check=1)
    assert p.stderr == (
        "error[vm_manager::vmfile::not_found]: VMFile.kdl not found in the current directory\n"
        "help: name the VM: `vmctl ssh NAME` (`vmctl list` shows them), or give a VMFile "
        "with --file\n")
    # a VM of the VMFile that was never created: bring it up
    proj = project(tmp_path, image, TWO)
    p = vmctl.run("ssh", "b", cwd=proj, check=1)
    assert p.stderr == (
        "error[vm_manager::vm::not_found]: no VM named 'b'\n"
        "help: the VMFile defines 'b' but it was never created: bring it up with "
        "`vmctl up --name b`\n")
    # a VM nobody defines: the plain not-found
    p = vmctl.run("ssh", "zz", cwd=tmp_path / "..", check=1)
    assert "help: the VMFile defines" not in p.stderr
    # not running: start it
    vmctl.run("create", "--name", "c", "--image", image, check=0)
    p = vmctl.run("ssh", "c", cwd="/", check=1)
    assert p.stderr == (
        "error[vm_manager::vm::invalid_state]: cannot ssh into VM 'c': it is prepared\n"
        "help: start it with `vmctl start c` (or `vmctl up`)\n")


def test_missing_file_named_with_file(vmctl, tmp_path):
    p = vmctl.run("up", "--file", "missing.kdl", cwd=tmp_path, check=1)
    assert "not found" in p.stderr
    assert "--file" not in p.stderr.split("help:")[1]


def qemu_image(tmp_path):
    img = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "64M"], check=True)
    return str(img)


def test_bad_accel_rejected_before_the_vm_is_touched(data_home, tmp_path):
    """VMCTL_ACCEL=foo: start fails at once, and the VM is not marked failed."""
    q = Vmctl(data_home, backend="qemu")
    q.run("create", "--name", "acc", "--image", qemu_image(tmp_path), check=0)
    p = q.run("start", "acc", env={"VMCTL_ACCEL": "foo"}, check=1)
    assert p.stderr.startswith(
        "error[vm_manager::vm::invalid_config]: VMCTL_ACCEL='foo' is not an accelerator\n")
    assert "help: set VMCTL_ACCEL to kvm or tcg" in p.stderr
    vm = json.loads(q.run("status", "acc", "--json", check=0).stdout)
    assert vm["state"] == "prepared" and not vm.get("pid")
    # create --start: refused before anything is registered
    p = q.run("create", "--name", "acc2", "--image", qemu_image(tmp_path), "--start",
              env={"VMCTL_ACCEL": "foo"}, check=1)
    assert "VMCTL_ACCEL='foo'" in p.stderr
    assert "acc2" not in q.run("list", check=0).stdout
    q.run("destroy", "acc", check=0)


def test_one_vcpu_limit_for_vmfile_create_and_up(vmctl, image, tmp_path):
    """validate, up and create agree on the vCPU range (1 to 255)."""
    proj = project(tmp_path, image, 'vm "big" {\n    image "IMAGE"\n    vcpus 255\n}\n')
    vmctl.run("validate", cwd=proj, check=0)
    vmctl.run("up", cwd=proj, check=0)
    assert json.loads(vmctl.run("status", "big", "--json", check=0).stdout)["vcpus"] == 255
    (proj / "VMFile.kdl").write_text(f'vm "bigger" {{\n    image "{image}"\n    vcpus 256\n}}\n')
    p = vmctl.run("validate", cwd=proj, check=1)
    assert "`vcpus` must be between 1 and 255, got 256" in p.stderr
    p = vmctl.run("up", cwd=proj, check=1)
    assert "`vcpus` must be between 1 and 255, got 256" in p.stderr
    vmctl.run("create", "--name", "c255", "--image", image, "--vcpus", "255", check=0)
    p = vmctl.run("create", "--name", "c256", "--image", image, "--vcpus", "256", check=2)
    assert "--vcpus must be between 1 and 255, got '256'" in p.stderr
