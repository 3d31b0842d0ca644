# SPDX-License-Identifier: MIT
"""Walks the command table: every command has a summary and usage, `--help`
exits 0 on stdout, an unknown option exits 2 with usage on stderr."""
import re

import pytest

from conftest import Vmctl, vmctl_bin
import subprocess


def commands():
    out = subprocess.run([vmctl_bin(), "--help"], capture_output=True, text=True,
                         check=True).stdout
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    cmds = []
    for line in block.splitlines():
        m = re.match(r"  (\S+)\s+(\S.*)", line)
        assert m, line
        cmds.append((m.group(1), m.group(2)))
    return cmds


def test_table_is_not_empty():
    names = [c for c, _ in commands()]
    for expected in ("create", "start", "stop", "destroy", "list", "status", "suspend",
                     "resume", "log"):
        assert expected in names


@pytest.mark.parametrize("name,summary", commands())
def test_help(vmctl, name, summary):
    assert summary and summary[0].isupper()
    for flag in ("--help", "-h"):
        p = vmctl.run(name, flag, check=0)
        assert p.stderr == ""
        assert p.stdout.startswith(summary + "\n\nUsage:\n  vmctl " + name)
        assert "  -h, --help" in p.stdout
    # `vmctl help NAME` says the same
    assert vmctl.run("help", name, check=0).stdout == vmctl.run(name, "--help").stdout


@pytest.mark.parametrize("name,summary", commands())
def test_unknown_option(vmctl, name, summary):
    p = vmctl.run(name, "--definitely-not-an-option", check=2)
    assert p.stdout == ""
    assert p.stderr.startswith(f"vmctl {name}: unknown option '--definitely-not-an-option'\n"
                               "Usage:\n")
    assert f"Try 'vmctl {name} --help' for more information." in p.stderr


@pytest.mark.parametrize("name,summary", commands())
def test_help_lists_only_real_options(vmctl, name, summary):
    """Every long option --help shows is accepted (not reported unknown)."""
    text = vmctl.run(name, "--help", check=0).stdout
    for opt in sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", text, re.M))):
        if opt == "--help":
            continue
        p = vmctl.run(name, opt)
        assert "unknown option" not in p.stderr, (name, opt, p.stderr)


def test_main_help_and_version(vmctl):
    p = vmctl.run("--help", check=0)
    assert p.stdout.startswith("vmctl ")
    assert "VMCTL_LOG" in p.stdout and "XDG_DATA_HOME" in p.stdout
    v = vmctl.run("--version", check=0).stdout
    assert re.fullmatch(r"vmctl \d+\.\d+\.\d+\n", v)
    assert vmctl.run("-V", check=0).stdout == v
    assert vmctl.run("version", check=0).stdout == v


def test_no_command(vmctl):
    p = vmctl.run(check=2)
    assert p.stdout == ""
    assert "Usage:" in p.stderr


@pytest.mark.parametrize("typo,suggestion", [("strat", "start"), ("lsit", "list"),
                                             ("destory", "destroy"), ("stauts", "status")])
def test_unknown_command_suggests(vmctl, typo, suggestion):
    p = vmctl.run(typo, check=2)
    assert p.stderr == (f"vmctl: unknown command '{typo}'\nhelp: did you mean "
                        f"'{suggestion}'?\nTry 'vmctl --help' for the list of commands.\n")


def test_unknown_command_without_suggestion(vmctl):
    p = vmctl.run("frobnicate", check=2)
    assert "did you mean" not in p.stderr


def test_unknown_global_option(vmctl):
    p = vmctl.run("--frob", check=2)
    assert p.stderr.startswith("vmctl: unknown option '--frob'")
