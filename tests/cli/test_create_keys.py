# SPDX-License-Identifier: MIT
"""`create --ssh-key` and a VMFile's `ssh-key`: every line of the file must
be a public key, every key is authorized (none silently dropped), and a
file that is not one says where and why."""
import os
import subprocess

from conftest import Vmctl


def keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True)
    return (path.parent / (path.name + ".pub")).read_text().strip()


def seed_user_data(vm_dir, tmp_path):
    out = tmp_path / "user-data"
    subprocess.run(["osirrox", "-indev", os.path.join(vm_dir, "seed.iso"), "-extract", "/user-data",
                    str(out)], check=True, capture_output=True)
    return out.read_text()


def qemu_image(tmp_path):
    img = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "64M"], check=True)
    return str(img)


def test_not_a_public_key_is_refused_with_its_line(vmctl, image, tmp_path):
    good = keygen(tmp_path / "a", "a@test")
    bad = tmp_path / "keys.pub"
    bad.write_text(f"{good}\n# a comment\nnot a key at all\n")
    p = vmctl.run("create", "--name", "k", "--image", image, "--ssh-key", str(bad), check=1)
    assert f"{bad}:3" in p.stderr, p.stderr
    assert p.stderr.startswith("error[vm_manager::cloudinit::invalid]: ")
    assert "k" not in vmctl.run("list", check=0).stdout.split()
    # a private key given by mistake
    p = vmctl.run("create", "--name", "k", "--image", image, "--ssh-key",
                  str(tmp_path / "a"), check=1)
    assert f"{tmp_path / 'a'}:1" in p.stderr


def test_every_key_of_the_file_is_authorized(data_home, tmp_path):
    q = Vmctl(data_home, backend="qemu")
    k1, k2 = keygen(tmp_path / "one", "one@test"), keygen(tmp_path / "two", "two@test")
    keys = tmp_path / "both.pub"
    keys.write_text(f"{k1}\n\n{k2}\n")
    q.run("create", "--name", "two-keys", "--image", qemu_image(tmp_path), "--ssh-key",
          str(keys), check=0)
    ud = seed_user_data(os.path.join(data_home, "vmctl", "vms", "two-keys"), tmp_path)
    assert k1.split()[1] in ud and k2.split()[1] in ud, ud
    q.run("destroy", "two-keys", check=0)


def test_vmfile_ssh_key_is_checked_too(vmctl, image, tmp_path):
    bad = tmp_path / "bad.pub"
    bad.write_text("ssh-ed25519 AAAAnotbase64!!\n")
    (tmp_path / "VMFile.kdl").write_text(
        f'vm "v" {{\n    image "{image}"\n    cloud-init {{ ssh-key "{bad}"; }}\n}}\n')
    p = vmctl.run("up", cwd=tmp_path, check=1)
    assert f"{bad}:1" in p.stderr, p.stderr
