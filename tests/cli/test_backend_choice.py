# SPDX-License-Identifier: MIT
"""Which backend a new VM gets when the options disagree: `--connect` places
a VM on a libvirt host, so naming another backend with it is a usage error
(the VMFile's `backend` + `host`: tests/vmfile/invalid/backend-and-host.kdl),
and an unknown backend names the ones there are."""


def test_connect_with_another_backend_is_refused(vmctl, image):
    for other in ("qemu", "propolis", "noop"):
        p = vmctl.run("create", "--name", "x", "--image", str(image), "--connect",
                      "qemu+ssh://admin@lab/system", "--backend", other, check=2)
        assert ("vmctl create: --connect places the VM on a libvirt host: it cannot be "
                f"combined with --backend {other}\n") in p.stderr, p.stderr
    assert vmctl.run("status", "x", check=1).returncode == 1


def test_unknown_backend_lists_every_backend(vmctl, image):
    p = vmctl.run("create", "--name", "x", "--image", str(image), "--backend", "xen", check=2)
    assert "--backend 'xen' names no backend: use qemu, propolis, libvirt or noop" in p.stderr
    p = vmctl.run("create", "--name", "x", "--image", str(image),
                  env={"VMCTL_BACKEND": "xen"}, check=1)
    assert "use VMCTL_BACKEND=qemu, propolis, libvirt or noop, or unset it" in p.stderr
