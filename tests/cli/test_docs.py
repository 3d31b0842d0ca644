# SPDX-License-Identifier: MIT
"""The docs say what the binary does: every command and every option that
`--help` shows is in the man page and both completions, and nothing is
there that --help does not show."""
import os
import re
import subprocess

import pytest

from conftest import SRCDIR, vmctl_bin


def helptext(*args):
    return subprocess.run([vmctl_bin(), *args, "--help"], capture_output=True, text=True,
                          check=True).stdout


def commands():
    block = helptext().split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [l.split()[0] for l in block.splitlines()]


def long_options(text):
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", text, re.M)) - {"--help"}


def doc(path):
    return open(os.path.join(SRCDIR, path)).read()


MAN = doc("docs/vmctl.1").replace("\\-", "-")
BASH = doc("completions/vmctl.bash")
ZSH = doc("completions/_vmctl")
README = doc("README.md")


def option_sets():
    for c in commands():
        if c == "image":
            for sub in ("pull", "list", "inspect", "rm", "prune"):
                yield f"image {sub}", long_options(helptext("image", sub))
        else:
            yield c, long_options(helptext(c))


@pytest.mark.parametrize("cmd", commands())
def test_command_documented(cmd):
    assert re.search(rf"^\.B {cmd}\b", MAN, re.M), f"{cmd} missing from docs/vmctl.1"
    assert re.search(rf"\b{cmd}\b", BASH.split("local commands=", 1)[1].split('"', 2)[1]), cmd
    assert f"'{cmd}:" in ZSH, cmd
    if cmd not in ("version",):
        assert f"`vmctl {cmd}" in README or f"/{cmd}" in README or f"{cmd}/" in README, cmd


@pytest.mark.parametrize("cmd,opts", list(option_sets()), ids=lambda x: str(x))
def test_options_documented(cmd, opts):
    man_entry = re.search(rf"^\.B {re.escape(cmd)}\b.*?(?=^\.TP|^\.SH)", MAN, re.M | re.S)
    assert man_entry, cmd
    for o in opts:
        assert o in man_entry.group(0), f"{cmd} {o} missing from docs/vmctl.1"
        assert o in BASH, f"{cmd} {o} missing from completions/vmctl.bash"
        assert o in ZSH, f"{cmd} {o} missing from completions/_vmctl"


def test_no_stale_options_in_completions():
    every = set()
    for _, opts in option_sets():
        every |= opts
    for name, text in (("bash", BASH), ("zsh", ZSH)):
        for o in set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", text)) - {"--help", "--version"}:
            assert o in every, f"completions ({name}) offer {o}, which no command has"


def test_environment_documented():
    env = re.findall(r"^  (VMCTL_\w+|XDG_\w+)", helptext(), re.M)
    assert "VMCTL_LOG" in env and "VMCTL_ACCEL" in env
    for var in env:
        assert var in MAN, var
        assert var in README, var
