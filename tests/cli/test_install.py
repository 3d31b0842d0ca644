# SPDX-License-Identifier: MIT
"""`meson install` gives another program everything it needs: the headers,
the shared and static libraries, a pkg-config file; the shared library
exports only vmm_* symbols."""
import json
import os
import subprocess

from conftest import SRCDIR, vmctl_bin

PROGRAM = r"""
#include <stdio.h>
#include <vmm/vmm.h>

int main(void)
{
	struct vmm_error err;
	const char *const names[] = {"create", "start", NULL};

	if (vmm_vm_name_validate("bad/name", &err) < 0)
		printf("%s|%s|%s\n", vmm_errcode_name(err.code), err.message,
		       vmm_suggest("strat", names));
	return 0;
}
"""


def sanitizer_flags(build):
    """A sanitizer build's library needs the same runtime in its users."""
    opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                     check=True, capture_output=True, text=True).stdout)
    san = next(o["value"] for o in opts if o["name"] == "b_sanitize")
    return ["clang", f"-fsanitize={san}"] if san != "none" else ["cc"]


def test_install_and_link(tmp_path):
    build = os.path.dirname(os.path.dirname(vmctl_bin()))
    cc = sanitizer_flags(build)
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", build, "--quiet", "--destdir", str(dest)],
                   check=True, capture_output=True)
    pcs = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs if f == "vmm.pc"]
    assert len(pcs) == 1
    libdir = os.path.dirname(os.path.dirname(pcs[0]))
    prefix_inc = [os.path.join(r, "vmm.h") for r, _, fs in os.walk(dest) for f in fs
                  if f == "vmm.h"]
    assert prefix_inc, "vmm/vmm.h is not installed"
    incdir = os.path.dirname(os.path.dirname(prefix_inc[0]))
    assert os.path.exists(os.path.join(libdir, "libvmm.a"))
    assert any(f.startswith("libvmm.so") for f in os.listdir(libdir))
    # every public header compiles on its own
    for h in sorted(os.listdir(os.path.join(incdir, "vmm"))):
        src = tmp_path / "h.c"
        src.write_text(f"#include <vmm/{h}>\nint main(void) {{ return 0; }}\n")
        subprocess.run([*cc, "-Wall", "-Werror", "-I", incdir, "-c", str(src), "-o",
                        str(tmp_path / "h.o")], check=True)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
    flags = subprocess.run(["pkg-config", "--libs", "vmm"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    flags = [f for f in flags if not f.startswith("-L")]
    (tmp_path / "p.c").write_text(PROGRAM)
    subprocess.run([*cc, "-Wall", "-Wextra", "-Werror", "-I", incdir, str(tmp_path / "p.c"),
                    "-L", libdir, *flags, "-o", str(tmp_path / "p")], check=True)
    out = subprocess.run([str(tmp_path / "p")],
                         env=dict(os.environ, LD_LIBRARY_PATH=libdir, ASAN_OPTIONS="detect_leaks=0"),
                         check=True, capture_output=True, text=True).stdout
    assert out == ("vm_manager::vm::invalid_name|VM name 'bad/name' contains '/' at "
                   "position 4|start\n")
    so = [os.path.join(libdir, f) for f in os.listdir(libdir) if f.startswith("libvmm.so.")]
    syms = subprocess.run(["nm", "-D", "--defined-only", so[0]], check=True,
                          capture_output=True, text=True).stdout.split("\n")
    exported = [l.split()[-1] for l in syms if l.strip()]
    assert exported and all(s.startswith("vmm_") for s in exported), \
        [s for s in exported if not s.startswith("vmm_")][:5]
