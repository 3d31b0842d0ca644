# SPDX-License-Identifier: MIT
"""`vmctl create --share` without a guest (noop backend): the option's
parsing and errors, and the shares recorded in the VM (the VMFile's `share`
node: tests/vmfile/invalid/share.kdl; guests: tests/e2e/test_share_guest.py)."""
import json


def test_help(vmctl):
    p = vmctl.run("create", "--help", check=0)
    assert "--share HOST:GUEST[:ro]" in p.stdout and "virtiofs" in p.stdout


def test_recorded(vmctl, image, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "data").mkdir()
    vmctl.run("create", "--name", "s", "--image", str(image), "--share", "src:/home/vm/src",
              "--share", f"{tmp_path}/data:/srv/data:ro", cwd=tmp_path, check=0)
    vm = json.loads(vmctl.run("status", "s", "--json", check=0).stdout)
    assert vm["shares"] == [
        {"host": str(tmp_path / "src"), "guest": "/home/vm/src", "readonly": False,
         "type": "virtiofs"},
        {"host": str(tmp_path / "data"), "guest": "/srv/data", "readonly": True, "type": "9p"},
    ]
    stored = json.load(open(vmctl.store_path))["vms"]["s"]["shares"]
    assert stored == vm["shares"]
    # a VM without shares records none
    vmctl.run("create", "--name", "n", "--image", str(image), check=0)
    assert "shares" not in json.load(open(vmctl.store_path))["vms"]["n"]
    assert json.loads(vmctl.run("status", "n", "--json", check=0).stdout)["shares"] == []


def test_errors(vmctl, image, tmp_path):
    (tmp_path / "src").mkdir()
    base = ["create", "--name", "e", "--image", str(image)]
    for bad, why in (("src", "no HOST:GUEST"), (":/x", "no HOST:GUEST"),
                     ("src:rel", "the guest path must be absolute"),
                     ("src:", "the guest path must be absolute"),
                     ("src:/x:rx", "'rx' is not ro or rw")):
        p = vmctl.run(*base, "--share", bad, cwd=tmp_path, check=2)
        assert f"vmctl create: --share '{bad}': {why}" in p.stderr, p.stderr
    p = vmctl.run(*base, "--share", "missing:/x", cwd=tmp_path, check=1)
    assert p.stderr == (
        f"error[vm_manager::usage]: --share 'missing:/x': host directory "
        f"'{tmp_path}/missing': No such file or directory\n"
        "help: share an existing directory (mkdir -p it first)\n")
    (tmp_path / "file").write_text("x")
    p = vmctl.run(*base, "--share", "file:/x", cwd=tmp_path, check=1)
    assert "Not a directory" in p.stderr
    # nothing was created
    assert vmctl.run("status", "e", check=1).returncode == 1


def test_validate_plan(vmctl, image, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "VMFile.kdl").write_text(
        f'vm "w" {{\n    image "{image}"\n    share "./src" "/home/vm/src"\n'
        f'    share "./src" "/srv/ro" readonly=#true\n}}\n')
    out = vmctl.run("validate", cwd=tmp_path, check=0).stdout
    assert f"  share:       {tmp_path}/src -> /home/vm/src\n" in out, out
    assert f"               {tmp_path}/src -> /srv/ro (readonly)\n" in out, out
    plan = json.loads(vmctl.run("validate", "--json", cwd=tmp_path, check=0).stdout)
    assert plan["vms"][0]["shares"] == [
        {"host": f"{tmp_path}/src", "guest": "/home/vm/src", "readonly": False},
        {"host": f"{tmp_path}/src", "guest": "/srv/ro", "readonly": True}]
    # a VM without shares has none in its plan
    (tmp_path / "VMFile.kdl").write_text(f'vm "w" {{\n    image "{image}"\n}}\n')
    out = vmctl.run("validate", cwd=tmp_path, check=0).stdout
    assert "share:" not in out
    assert "shares" not in json.loads(
        vmctl.run("validate", "--json", cwd=tmp_path, check=0).stdout)["vms"][0]
