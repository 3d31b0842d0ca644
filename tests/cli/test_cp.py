# SPDX-License-Identifier: MIT
"""`vmctl cp` without a guest: its --help, the scp-notation operands and the
errors that come before any connection (the copies themselves: tests/unit/
test_copy.c against a real sshd, tests/e2e/test_cp_guest.py against a guest)."""


def test_help(vmctl):
    p = vmctl.run("cp", "--help", check=0)
    assert "vmctl cp [-r]" in p.stdout and "NAME:PATH" in p.stdout
    assert "--recursive" in p.stdout and "symbolic links" in p.stdout
    assert "cp " in vmctl.run("--help", check=0).stdout


def test_usage_errors(vmctl):
    p = vmctl.run("cp", "onlyone", check=2)
    assert "give a SRC and a DST" in p.stderr
    p = vmctl.run("cp", "a", "b", "c", check=2)
    assert "give one SRC and one DST" in p.stderr
    p = vmctl.run("cp", "--bogus", "a", "b", check=2)


def test_operand_errors(vmctl, tmp_path):
    p = vmctl.run("cp", "a", "b", cwd=tmp_path, check=1)
    assert p.stderr == (
        "error[vm_manager::usage]: neither 'a' nor 'b' is in a VM (NAME:PATH)\n"
        "help: name the VM on one side: `vmctl cp FILE NAME:PATH` or "
        "`vmctl cp NAME:PATH FILE`\n")
    p = vmctl.run("cp", "web:/a", "db:/b", cwd=tmp_path, check=1)
    assert "both in a VM" in p.stderr and "help: copy from one VM to the host" in p.stderr
    p = vmctl.run("cp", "x", "bad@name:/tmp", cwd=tmp_path, check=1)
    assert "error[vm_manager::vm::invalid_name]: 'bad@name' in 'bad@name:/tmp'" in p.stderr
    assert "help: write a host path that holds a ':' as ./PATH" in p.stderr


def test_vm_errors(vmctl, image, tmp_path):
    p = vmctl.run("cp", "x", "nosuch:/tmp/", cwd=tmp_path, check=1)
    assert p.stderr.startswith("error[vm_manager::vm::not_found]: no VM named 'nosuch'\n")
    vmctl.run("create", "--name", "web", "--image", str(image), check=0)
    p = vmctl.run("cp", "x", "web:/tmp/", cwd=tmp_path, check=1)
    assert p.stderr == (
        "error[vm_manager::vm::invalid_state]: cannot copy to or from VM 'web': it is prepared\n"
        "help: start it with `vmctl start web` (or `vmctl up`)\n")
