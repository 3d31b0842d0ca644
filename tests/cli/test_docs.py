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


def section(text, start, end):
    """The text between the line `start` and the next line starting with `end`."""
    m = re.search(rf"^{re.escape(start)}\n(.*?)(?=^{re.escape(end)}|\Z)", text, re.M | re.S)
    assert m, f"no {start!r} section"
    return m.group(1)


def man_commands():
    """{command: [(synopsis, description)]} from the COMMANDS section of the
    man page: one `.TP` entry per command (image: one per subcommand)."""
    res = {}
    for entry in section(MAN, ".SH COMMANDS", ".SH ").split(".TP\n")[1:]:
        head, _, body = entry.partition("\n")
        m = re.fullmatch(r"\.B ([a-z]+)\b.*", head)
        assert m, f"docs/vmctl.1: a COMMANDS entry that is not `.B command`: {head!r}"
        res.setdefault(m.group(1), []).append((head, body.strip()))
    return res


def bash_commands():
    return BASH.split("local commands=", 1)[1].split('"', 2)[1].split()


def zsh_commands():
    """{command: description} from the top-level `commands=(...)` of _vmctl."""
    block = ZSH.split("\tcommands=(\n", 1)[1].split("\n\t)", 1)[0]
    res = {}
    for line in block.splitlines():
        m = re.fullmatch(r"\t+'([a-z]+):(.+)'", line)
        assert m, f"completions/_vmctl: not a 'command:description' line: {line!r}"
        res[m.group(1)] = m.group(2)
    return res


def readme_commands():
    """{command: description} from the table under `## Commands` in README.md:
    the first cell of a row names one or more commands in a code span
    (`vmctl start/stop/... NAME`), the second says what they do."""
    res = {}
    for row in section(README, "## Commands", "## ").splitlines():
        if not row.startswith("| `vmctl"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 2 and cells[1], f"README.md: a malformed row: {row!r}"
        for span in re.findall(r"`vmctl ([a-z/]+)", cells[0]):
            for cmd in span.split("/"):
                res[cmd] = cells[1]
    return res


# `vmctl version` repeats `vmctl --version`: the README's table leaves it out.
NOT_IN_README = {"version"}


@pytest.mark.parametrize("cmd", commands())
def test_command_documented(cmd):
    entries = man_commands().get(cmd)
    assert entries, f"{cmd} has no entry in the COMMANDS section of docs/vmctl.1"
    for head, body in entries:
        assert body and not body.startswith("."), f"docs/vmctl.1: {head!r} says nothing"
    assert cmd in bash_commands(), f"{cmd} missing from the commands of completions/vmctl.bash"
    assert zsh_commands().get(cmd), f"{cmd} missing from the commands of completions/_vmctl"
    if cmd not in NOT_IN_README:
        assert readme_commands().get(cmd), f"{cmd} missing from the Commands table of README.md"


def test_no_stale_commands_in_docs():
    cmds = set(commands())
    assert "create" in cmds and "validate" in cmds, cmds
    assert set(man_commands()) == cmds
    # `vmctl help COMMAND` works too (main.c), without being a command of --help
    assert set(bash_commands()) == cmds | {"help"}
    assert len(bash_commands()) == len(set(bash_commands()))
    assert set(zsh_commands()) == cmds
    assert set(readme_commands()) == cmds - NOT_IN_README


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
