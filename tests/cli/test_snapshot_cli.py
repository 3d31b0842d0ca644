# SPDX-License-Identifier: MIT
"""Saved state and snapshots through the CLI with the noop backend: the
`saved` state in list, status and --json, what each command accepts in it,
the tag rules, snapshot list/rm and their errors. tests/e2e/test_snapshot.py
does the same with QEMU and a real guest."""
import json
import re


def create(vmctl, image, name="web"):
    vmctl.run("create", "--name", name, "--image", image, check=0)


def state(vmctl, name="web"):
    return json.loads(vmctl.run("status", "--json", name, check=0).stdout)["state"]


def test_save_start_cold_and_stop(vmctl, image):
    create(vmctl, image)
    p = vmctl.run("stop", "--save", "web", check=1)
    assert "cannot save VM 'web': it is prepared" in p.stderr
    vmctl.run("start", "web", check=0)
    p = vmctl.run("stop", "--save", "web", check=0)
    assert "Saved VM 'web'" in p.stdout
    assert state(vmctl) == "saved"
    assert re.search(r"^web .* saved$", vmctl.run("list", check=0).stdout, re.M)
    assert json.loads(vmctl.run("list", "--json", check=0).stdout)[0]["state"] == "saved"
    # saved twice, suspended, or resumed: refused with a hint
    p = vmctl.run("stop", "--save", "web", check=1)
    assert "it is saved" in p.stderr and "vmctl start NAME" in p.stderr
    assert "it is saved" in vmctl.run("suspend", "web", check=1).stderr
    assert "it is saved" in vmctl.run("resume", "web", check=1).stderr
    p = vmctl.run("start", "web", check=0)
    assert p.stdout.startswith("Restored VM 'web'")
    assert state(vmctl) == "running"
    vmctl.run("stop", "--save", "web", check=0)
    p = vmctl.run("start", "--cold", "web", check=0)
    assert p.stdout.startswith("Started VM 'web'")
    # stop of a saved VM discards the state
    vmctl.run("stop", "--save", "web", check=0)
    vmctl.run("stop", "web", check=0)
    assert state(vmctl) == "stopped"
    assert vmctl.run("start", "web", check=0).stdout.startswith("Started VM 'web'")
    vmctl.run("stop", "--save", "web", check=0)
    vmctl.run("destroy", "web", check=0)


def test_stop_save_usage(vmctl, image):
    create(vmctl, image)
    p = vmctl.run("stop", "--save", "--timeout", "5", "web", check=2)
    assert "--timeout has no effect with --save" in p.stderr


def test_snapshots(vmctl, image):
    create(vmctl, image)
    assert vmctl.run("snapshot", "list", "web", check=0).stdout == "No snapshots\n"
    assert vmctl.run("snapshot", "list", "--json", "web", check=0).stdout == "[]\n"
    p = vmctl.run("snapshot", "create", "web", "a", check=0)
    assert p.stdout.startswith("Created snapshot 'a' of VM 'web'")
    p = vmctl.run("snapshot", "create", "web", check=0)
    made = re.match(r"Created snapshot '(snap-\d{8}-\d{6})'", p.stdout).group(1)
    snaps = json.loads(vmctl.run("snapshot", "list", "--json", "web", check=0).stdout)
    assert [s["tag"] for s in snaps] == ["a", made]
    assert set(snaps[0]) == {"tag", "date", "vm_state_size", "ram"}
    table = vmctl.run("snapshot", "list", "web", check=0).stdout.splitlines()
    assert table[0].split() == ["TAG", "DATE", "SIZE", "RAM"] and len(table) == 3

    p = vmctl.run("snapshot", "create", "web", "a", check=1)
    assert "already has a snapshot tagged 'a'" in p.stderr and "snapshot rm" in p.stderr
    for bad, why in ((".x", "must not start with '.'"), ("a/b", "contains '/'"),
                     ("x" * 64, "64 characters")):
        p = vmctl.run("snapshot", "create", "web", bad, check=1)
        assert "vm_manager::vm::invalid_config" in p.stderr and why in p.stderr, p.stderr
        assert "help: a tag is 1 to 63" in p.stderr
    p = vmctl.run("snapshot", "restore", "web", "nope", check=1)
    assert "has no snapshot tagged 'nope'" in p.stderr and "snapshot list" in p.stderr
    vmctl.run("snapshot", "restore", "web", "a", check=0)
    assert vmctl.run("snapshot", "rm", "web", "a", check=0).stdout == \
        "Removed snapshot 'a' of VM 'web'\n"
    assert "has no snapshot tagged 'a'" in vmctl.run("snapshot", "rm", "web", "a",
                                                     check=1).stderr

    # a saved VM's disk belongs to its state: no snapshot until it starts
    vmctl.run("start", "web", check=0)
    vmctl.run("stop", "--save", "web", check=0)
    p = vmctl.run("snapshot", "create", "web", "b", check=1)
    assert "it is saved" in p.stderr and "start --cold" in p.stderr
    vmctl.run("snapshot", "list", "web", check=0)
    assert "no VM named 'ghost'" in vmctl.run("snapshot", "list", "ghost", check=1).stderr


def test_snapshot_usage(vmctl):
    assert "missing subcommand" in vmctl.run("snapshot", check=2).stderr
    assert "unknown subcommand 'take'" in vmctl.run("snapshot", "take", "x", check=2).stderr
    assert "missing snapshot tag" in vmctl.run("snapshot", "restore", "web", check=2).stderr
    assert "missing snapshot tag" in vmctl.run("snapshot", "rm", "web", check=2).stderr
    assert "missing VM name" in vmctl.run("snapshot", "create", check=2).stderr
    assert "unexpected argument 'z'" in vmctl.run("snapshot", "create", "a", "b", "z",
                                                  check=2).stderr
    assert "vmctl snapshot restore NAME TAG" in vmctl.run("snapshot", "--help",
                                                          check=0).stdout
