# SPDX-License-Identifier: MIT
"""vmctl trusts nothing it reads from vms.json or finds planted on disk: a
path that is not the VM's own, a key that is not a VM name, JSON that is not
RFC 8259, a registry too big to be ours, a link where a lock file should be.
Each is refused with the file, the VM and the field, and nothing outside the
data directory is touched."""
import json
import os

import pytest


def write_store(vmctl, text):
    os.makedirs(vmctl.data_dir, exist_ok=True)
    with open(vmctl.store_path, "w") as f:
        f.write(text)


def store_bytes(vmctl):
    with open(vmctl.store_path, "rb") as f:
        return f.read()


def victim_dir(tmp_path):
    v = tmp_path / "victim"
    v.mkdir()
    (v / "precious").write_text("keep me")
    return v


def assert_victim(v):
    assert (v / "precious").read_text() == "keep me"


def test_destroy_refuses_a_foreign_work_dir(vmctl, tmp_path):
    """The issue's reproduction: destroy must not remove /tmp/victim."""
    v = victim_dir(tmp_path)
    write_store(vmctl, json.dumps({"version": 1, "vms": {"evil": {
        "backend": "noop", "state": "stopped", "work_dir": str(v)}}}))
    before = store_bytes(vmctl)
    for args in (["destroy", "evil"], ["list"], ["status", "evil"], ["stop", "evil"],
                 ["start", "evil"]):
        p = vmctl.run(*args, check=1)
        assert "error[vm_manager::store::corrupt]" in p.stderr, args
        assert vmctl.store_path in p.stderr
        assert "VM 'evil': field \"work_dir\" is \"%s\"" % v in p.stderr
        assert os.path.join(vmctl.data_dir, "vms", "evil") in p.stderr
        assert "help: vms.json was edited by hand or by another program" in p.stderr
        assert_victim(v)
    assert store_bytes(vmctl) == before  # never rewritten


@pytest.mark.parametrize("field,value", [
    ("work_dir", "{vms}/evil/../../.."),
    ("work_dir", "{vms}/evil/"),
    ("work_dir", "{vms}//evil"),
    ("work_dir", "{vms}/other"),
    ("overlay_path", "/etc/passwd"),
    ("overlay_path", "{vms}/evil/../other/overlay.qcow2"),
    ("seed_iso_path", "{vms}/evil//seed.iso"),
    ("qmp_socket", ""),
    ("console_socket", "{vms}/evilx/console.sock"),
])
def test_every_removed_path_must_be_the_vms_own(vmctl, field, value):
    vms = os.path.join(vmctl.data_dir, "vms")
    vm = {"backend": "noop", "state": "stopped", "work_dir": os.path.join(vms, "evil")}
    vm[field] = value.format(vms=vms)
    write_store(vmctl, json.dumps({"version": 1, "vms": {"evil": vm}}))
    p = vmctl.run("destroy", "evil", check=1)
    assert "error[vm_manager::store::corrupt]" in p.stderr
    assert "VM 'evil': field \"%s\"" % field in p.stderr


def test_destroy_removes_a_planted_link_not_its_target(vmctl, image, tmp_path):
    v = victim_dir(tmp_path)
    vmctl.run("create", "--name", "web", "--image", image, check=0)
    wd = os.path.join(vmctl.data_dir, "vms", "web")
    os.symlink(str(v), os.path.join(wd, "link-to-dir"))
    os.symlink(str(v / "precious"), os.path.join(wd, "link-to-file"))
    os.makedirs(os.path.join(wd, "sub"))
    os.symlink(str(v), os.path.join(wd, "sub", "deeper"))
    assert vmctl.run("destroy", "web", check=0).stdout == "Destroyed VM 'web'\n"
    assert not os.path.lexists(wd)
    assert_victim(v)


def test_a_work_dir_that_is_a_link_is_not_followed(vmctl, image, tmp_path):
    v = victim_dir(tmp_path)
    vmctl.run("create", "--name", "web", "--image", image, check=0)
    wd = os.path.join(vmctl.data_dir, "vms", "web")
    os.rmdir(wd)
    os.symlink(str(v), wd)
    vmctl.run("destroy", "web", check=0)
    assert not os.path.lexists(wd)
    assert_victim(v)


@pytest.mark.parametrize("key", ["../../etc", "a/b", ".hidden", "-rf", ""])
def test_a_key_that_is_not_a_vm_name_is_refused(vmctl, key):
    write_store(vmctl, json.dumps({"version": 1, "vms": {key: {"backend": "noop"}}}))
    p = vmctl.run("list", check=1)
    assert "error[vm_manager::store::corrupt]" in p.stderr
    assert "the key \"%s\" of \"vms\" is not a valid VM name" % key in p.stderr
    assert "help: vms.json was edited by hand or by another program: rename or remove" \
        in p.stderr


def test_control_characters_are_never_printed_raw(vmctl):
    # in a key: the error quotes it escaped
    write_store(vmctl, '{"version": 1, "vms": {"a\\u001b[2Jb": {}}}')
    p = vmctl.run("list", check=1)
    assert "\x1b" not in p.stderr
    assert "a\\x1b[2Jb" in p.stderr
    # in the fields status shows: ESC, CSI as C1 (U+009B), DEL, a newline
    write_store(vmctl, json.dumps({"version": 1, "vms": {"a": {
        "backend": "noop", "id": "\x1b[31mred", "ssh_user": "u\x9b2J\x7f",
        "image_url": "http://x/\ny", "created_at": "back\\slash"}}}))
    p = vmctl.run("status", "a", check=0)
    for raw in ("\x1b", "\x9b", "\x7f"):
        assert raw not in p.stdout
    assert "ID:          \\x1b[31mred\n" in p.stdout
    assert "SSH user:    u\\u009b2J\\x7f\n" in p.stdout
    assert "Image:       http://x/\\x0ay\n" in p.stdout
    assert "Created:     back\\\\slash\n" in p.stdout
    # the JSON form escapes them as JSON does
    assert json.loads(vmctl.run("status", "--json", "a", check=0).stdout)["id"] == \
        "\x1b[31mred"


@pytest.mark.parametrize("text", [
    '{"version": 1, "vms": {}} x',
    '{"version": 1, "vms": {}}{}',
    '{"version": 1,\f"vms": {}}',
    '{"version": 1, "vms": {}} // comment\n',
    '{"version": 1, /* comment */ "vms": {}}',
    '{"version": 1,\0"vms": {}}',
])
def test_non_rfc8259_json_is_refused_and_kept(vmctl, image, text):
    write_store(vmctl, text)
    before = store_bytes(vmctl)
    p = vmctl.run("create", "--name", "web", "--image", image, check=1)
    assert "error[vm_manager::store::corrupt]" in p.stderr
    assert "%s:1:" % vmctl.store_path in p.stderr
    assert "invalid JSON" in p.stderr
    assert store_bytes(vmctl) == before


def test_an_oversized_registry_is_refused_unread(vmctl):
    os.makedirs(vmctl.data_dir, exist_ok=True)
    with open(vmctl.store_path, "wb") as f:
        f.write(b'{"version": 1, "vms": {}}')
        f.truncate(64 * 1024 * 1024 + 1)  # sparse: nothing to read but the size
    p = vmctl.run("list", check=1)
    assert "error[vm_manager::store::corrupt]" in p.stderr
    assert "%s is 67108865 bytes; vmctl reads a registry of up to 64 MiB" % vmctl.store_path \
        in p.stderr
    assert os.path.getsize(vmctl.store_path) == 64 * 1024 * 1024 + 1


def test_a_lock_file_that_is_a_link_is_refused(vmctl, image, tmp_path):
    victim = tmp_path / "victim-file"
    victim.write_text("keep me")
    vmctl.run("create", "--name", "web", "--image", image, check=0)
    lock = os.path.join(vmctl.data_dir, "locks", "store.lock")
    os.unlink(lock)
    os.symlink(str(victim), lock)
    p = vmctl.run("create", "--name", "db", "--image", image, check=1)
    assert "store.lock' is a symbolic link" in p.stderr
    assert victim.read_text() == "keep me"
    assert "db" not in json.load(open(vmctl.store_path))["vms"]
