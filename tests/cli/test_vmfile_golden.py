# SPDX-License-Identifier: MIT
"""Golden tests of the VMFile schema and its diagnostics, through the real
binary (`vmctl validate`).

Corpus (tests/vmfile/):
  valid/NAME.kdl      a valid VMFile; valid/NAME.json is the exact stdout of
                      `vmctl validate --file NAME.kdl --json` (exit 0), and
                      valid/NAME.txt, where present, the exact stdout without
                      --json.
  invalid/NAME.kdl    an invalid VMFile; invalid/NAME.stderr is the exact
                      stderr of `vmctl validate --file NAME.kdl` (exit 1,
                      nothing on stdout): every diagnostic with file, line,
                      column, source line, caret, message and hint.
  valid/files/        files the VMFiles refer to; valid/files/home is $HOME.

Each case runs in its own directory (valid/ or invalid/) with HOME set to
valid/files/home. Absolute paths in the output are written as @VMFILE_DIR@
(the tests/vmfile directory) and @HOME@ in the expectation files.

To regenerate the expectations after an intended change, run

    VMCTL_GOLDEN_UPDATE=1 /usr/bin/python3 -m pytest tests/cli/test_vmfile_golden.py

and review the diff (git diff tests/vmfile) before committing it: the
expectation files are the specification of the messages.

The binary is $VMCTL_BIN (default build/src/vmctl).
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "vmfile"
VALID = CORPUS / "valid"
INVALID = CORPUS / "invalid"
HOME = VALID / "files" / "home"
UPDATE = os.environ.get("VMCTL_GOLDEN_UPDATE") == "1"


def vmctl_bin():
    b = os.environ.get("VMCTL_BIN", str(ROOT / "build" / "src" / "vmctl"))
    return str(Path(b).resolve())


def run(args, cwd, home=HOME):
    env = dict(os.environ)
    env["HOME"] = str(home)
    env.pop("NO_COLOR", None)
    env.pop("VMCTL_LOG", None)
    return subprocess.run([vmctl_bin(), *args], cwd=cwd, env=env, capture_output=True,
                          timeout=30)


def placeholders(text):
    # Longest first: HOME lies inside the corpus directory.
    for real, name in ((os.path.realpath(HOME), "@HOME@"), (str(HOME), "@HOME@"),
                       (os.path.realpath(CORPUS), "@VMFILE_DIR@"),
                       (str(CORPUS), "@VMFILE_DIR@")):
        text = text.replace(real, name)
    return text


def check_golden(actual: bytes, expected_file: Path):
    text = placeholders(actual.decode("utf-8"))
    if UPDATE:
        expected_file.write_text(text, encoding="utf-8")
        return
    assert expected_file.exists(), f"{expected_file} missing; see the docstring to create it"
    expected = expected_file.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {expected_file.name}"


def cases(d):
    return sorted(p.stem for p in d.glob("*.kdl"))


@pytest.mark.parametrize("name", cases(VALID))
def test_valid_json(name):
    p = run(["validate", "--file", name + ".kdl", "--json"], VALID)
    assert p.stderr == b"", p.stderr.decode(errors="replace")
    assert p.returncode == 0
    plan = json.loads(p.stdout)  # well-formed JSON
    assert plan["vms"], "a valid VMFile defines at least one VM"
    check_golden(p.stdout, VALID / (name + ".json"))


@pytest.mark.parametrize("name", [n for n in cases(VALID) if (VALID / (n + ".txt")).exists()])
def test_valid_text(name):
    p = run(["validate", "--file", name + ".kdl"], VALID)
    assert p.stderr == b""
    assert p.returncode == 0
    check_golden(p.stdout, VALID / (name + ".txt"))


@pytest.mark.parametrize("name", cases(INVALID))
def test_invalid(name):
    p = run(["validate", "--file", name + ".kdl"], INVALID)
    assert p.stdout == b""
    assert p.returncode == 1, p.stderr.decode(errors="replace")
    # The terminal never sees a raw control character from the file.
    assert not any(b < 0x20 and b not in (0x0a,) for b in p.stderr)
    check_golden(p.stderr, INVALID / (name + ".stderr"))


@pytest.mark.parametrize("name", cases(INVALID))
def test_invalid_json_mode_also_fails(name):
    """--json changes the plan's format only: diagnostics go to stderr."""
    p = run(["validate", "--file", name + ".kdl", "--json"], INVALID)
    assert p.returncode == 1
    assert p.stdout == b""
    assert p.stderr.startswith(b"error[vm_manager::vmfile::")


def test_every_case_has_an_expectation():
    for n in cases(VALID):
        assert (VALID / (n + ".json")).exists(), n
    for n in cases(INVALID):
        assert (INVALID / (n + ".stderr")).exists(), n


def test_missing_default_vmfile(tmp_path):
    p = run(["validate"], tmp_path)
    assert p.returncode == 1
    assert p.stdout == b""
    assert p.stderr.decode() == (
        "error[vm_manager::vmfile::not_found]: VMFile.kdl not found in the current directory\n"
        "help: create VMFile.kdl in the current directory or specify the path with --file\n")


def test_missing_explicit_vmfile(tmp_path):
    p = run(["validate", "--file", "nope/Other.kdl"], tmp_path)
    assert p.returncode == 1
    assert p.stderr.decode() == (
        "error[vm_manager::vmfile::not_found]: VMFile 'nope/Other.kdl' not found: "
        "No such file or directory\n"
        "help: check the path: 'nope/Other.kdl' is taken from the current directory unless "
        "it is absolute; a directory stands for its VMFile.kdl\n")
    # the user gave --file: the hint does not tell them to use it
    assert "with --file" not in p.stderr.decode()


def test_explicit_directory_without_vmfile(tmp_path):
    p = run(["validate", "--file", str(tmp_path)], tmp_path)
    assert p.returncode == 1
    assert p.stderr.decode() == (
        f"error[vm_manager::vmfile::not_found]: '{tmp_path}' is a directory without a "
        "VMFile.kdl\n"
        "help: create the VMFile there, or give the path of the file itself\n")


def test_discovers_vmfile_in_current_directory(tmp_path):
    (tmp_path / "VMFile.kdl").write_text('vm "a" { image-url "https://example.com/a.img"; }\n')
    p = run(["validate", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["file"] == os.path.realpath(tmp_path / "VMFile.kdl")
    assert plan["base_dir"] == os.path.realpath(tmp_path)
    assert [v["name"] for v in plan["vms"]] == ["a"]


def test_file_option_takes_a_directory(tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "VMFile.kdl").write_text('vm "b" { image-url "https://example.com/b.img"; }\n')
    p = run(["validate", "-f", str(d), "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["vms"][0]["name"] == "b"


def test_paths_are_relative_to_the_vmfile_not_the_cwd(tmp_path):
    d = tmp_path / "proj"
    (d / "img").mkdir(parents=True)
    (d / "img" / "disk.qcow2").write_bytes(b"x")
    (d / "VMFile.kdl").write_text('vm "c" { image "img/disk.qcow2"; }\n')
    p = run(["validate", "--file", "proj/VMFile.kdl", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["vms"][0]["image"]["path"] == \
        os.path.realpath(d / "img" / "disk.qcow2")
    # and a missing one is reported with the file name as given
    (d / "img" / "disk.qcow2").unlink()
    p = run(["validate", "--file", "proj/VMFile.kdl"], tmp_path)
    assert p.returncode == 1
    assert "--> proj/VMFile.kdl:1:16\n" in p.stderr.decode()


def test_a_directory_as_vmfile_without_vmfile_inside(tmp_path):
    p = run(["validate", "--file", str(tmp_path)], tmp_path)
    assert p.returncode == 1
    assert b"vm_manager::vmfile::not_found" in p.stderr


def test_validate_has_no_side_effects(tmp_path):
    """validate reads the VMFile and stats the files it names, nothing else:
    no data directory, no image download."""
    (tmp_path / "VMFile.kdl").write_text(
        'vm "a" { image-url "http://127.0.0.1:9/never-fetched.img"; }\n')
    env_home = tmp_path / "home"
    env_home.mkdir()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    p = run(["validate"], tmp_path, home=env_home)
    assert p.returncode == 0, p.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_usage_error_exits_2(tmp_path):
    p = run(["validate", "extra"], tmp_path)
    assert p.returncode == 2
