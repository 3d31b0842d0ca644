# SPDX-License-Identifier: MIT
"""Port forwards on the noop backend (which forwards nothing, so host ports
are recorded as given): `create -p` in Docker's notation and its errors,
the record in vms.json and in --json, `list`'s PORTS column, `vmctl port`
(docker port's format, --add, --rm), the VMFile's `forward` children, their
validation errors and `validate`'s plan."""
import json
import os

import pytest


def create(vmctl, image, name, *args, check=0):
    return vmctl.run("create", "--name", name, "--image", image, *args, check=check)


def record(vmctl, name):
    with open(vmctl.store_path) as f:
        return json.load(f)["vms"][name]


def fwd(proto, addr, host, guest, auto=False):
    return {"protocol": proto, "address": addr, "host_port": host, "guest_port": guest,
            "auto": auto}


def test_create_records_forwards(vmctl, image):
    create(vmctl, image, "web", "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp",
           "--publish", "0.0.0.0:8443:443", "-p", "80", "-p", "10.0.0.1::3000/tcp")
    want = [fwd("tcp", "127.0.0.1", 8080, 80), fwd("udp", "127.0.0.1", 5353, 53),
            fwd("tcp", "0.0.0.0", 8443, 443), fwd("tcp", "127.0.0.1", 0, 80, True),
            fwd("tcp", "10.0.0.1", 0, 3000, True)]
    assert record(vmctl, "web")["forwards"] == want
    assert json.loads(vmctl.run("status", "web", "--json", check=0).stdout)["forwards"] == want
    (vm,) = json.loads(vmctl.run("list", "--json", check=0).stdout)
    assert vm["forwards"] == want
    lines = vmctl.run("list", check=0).stdout.splitlines()
    assert lines[0].split()[-2:] == ["PORTS", "STATE"]
    assert lines[1].split()[-2] == ("8080->80/tcp,5353->53/udp,0.0.0.0:8443->443/tcp,"
                                    "80/tcp,3000/tcp")
    # docker port's format; with a guest port, only the host side
    assert vmctl.run("port", "web", check=0).stdout == (
        "80/tcp -> 127.0.0.1:8080\n53/udp -> 127.0.0.1:5353\n443/tcp -> 0.0.0.0:8443\n"
        "80/tcp -> 127.0.0.1:-\n3000/tcp -> 10.0.0.1:-\n")
    assert vmctl.run("port", "web", "53/udp", check=0).stdout == "127.0.0.1:5353\n"
    assert vmctl.run("port", "web", "80", check=0).stdout == "127.0.0.1:8080\n127.0.0.1:-\n"
    p = vmctl.run("port", "web", "53", check=1)
    assert "no host port forwards to 53/tcp of VM 'web'" in p.stderr
    assert json.loads(vmctl.run("port", "web", "--json", check=0).stdout) == want
    status = vmctl.run("status", "web", check=0).stdout
    assert "Ports:       80/tcp -> 127.0.0.1:8080\n             53/udp -> 127.0.0.1:5353\n" in status


def test_no_forwards(vmctl, image):
    create(vmctl, image, "bare")
    assert "forwards" not in record(vmctl, "bare")  # unset fields are omitted
    assert json.loads(vmctl.run("status", "bare", "--json", check=0).stdout)["forwards"] == []
    assert vmctl.run("port", "bare", check=0).stdout == ""
    assert vmctl.run("list", check=0).stdout.splitlines()[1].split()[-2] == "-"
    assert "Ports:       -\n" in vmctl.run("status", "bare", check=0).stdout


@pytest.mark.parametrize("spec,message", [
    ("80/sctp", "unknown protocol 'sctp'"),
    ("8080:0", "the guest port '0' is not a number from 1 to 65535"),
    ("70000:80", "the host port '70000' is not a number from 0 to 65535"),
    ("8000-8010:80", "port ranges (8000-8010) are not supported"),
    ("localhost:80:80", "'localhost' is not an IPv4 address"),
    ("[::1]:80:80", "too many ':'"),
    ("", "it is empty"),
])
def test_create_notation_errors(vmctl, image, spec, message):
    p = create(vmctl, image, "bad", "-p", spec, check=2)
    assert f"vmctl create: -p: invalid port forward '{spec}': {message}" in p.stderr
    assert not os.path.exists(vmctl.store_path) or "bad" not in json.load(
        open(vmctl.store_path))["vms"]


def test_create_refusals(vmctl, image):
    p = create(vmctl, image, "dup", "-p", "8080:80", "-p", "8080:81", check=1)
    assert p.stderr == ("error[vm_manager::vm::invalid_config]: host port 8080/tcp is "
                        "forwarded twice (to guest ports 80 and 81)\n"
                        "help: give each forward its own host port (0 lets vmctl pick one)\n")
    create(vmctl, image, "ok", "-p", "8080:80", "-p", "8080:53/udp")  # tcp and udp apart
    p = create(vmctl, image, "tap", "--bridge", "br0", "-p", "80", check=1)
    assert "port forwards do not apply to tap networking" in p.stderr
    assert "help: forwards need user networking" in p.stderr
    names = json.loads(vmctl.run("list", "--json", check=0).stdout)
    assert [v["name"] for v in names] == ["ok"]


def test_port_add_and_rm_are_recorded(vmctl, image):
    create(vmctl, image, "w", "-p", "8080:80")
    with open(vmctl.store_path) as f:
        doc = json.load(f)
    doc["vms"]["w"]["from_a_newer_vmctl"] = {"kept": [1, 2]}
    doc["top_level_future"] = True
    with open(vmctl.store_path, "w") as f:
        json.dump(doc, f)
    p = vmctl.run("port", "w", "--add", "9000:90", "--add", "127.0.0.1:5353:53/udp", check=0)
    assert p.stdout == "Added 90/tcp -> 127.0.0.1:9000\nAdded 53/udp -> 127.0.0.1:5353\n"
    p = vmctl.run("port", "w", "--rm", "8080", "--rm", "5353/udp", check=0)
    assert p.stdout == ("Removed 80/tcp -> 127.0.0.1:8080\n"
                        "Removed 53/udp -> 127.0.0.1:5353\n")
    rec = record(vmctl, "w")
    assert rec["forwards"] == [fwd("tcp", "127.0.0.1", 9000, 90)]
    assert rec["from_a_newer_vmctl"] == {"kept": [1, 2]}
    assert json.load(open(vmctl.store_path))["top_level_future"] is True
    # a running (noop) VM too; removing the last one leaves no field
    vmctl.run("start", "w", check=0)
    vmctl.run("port", "w", "--rm", "9000", check=0)
    assert "forwards" not in record(vmctl, "w")
    assert record(vmctl, "w")["state"] == "running"


def test_port_errors(vmctl, image):
    create(vmctl, image, "w", "-p", "8080:80")
    p = vmctl.run("port", "w", "--rm", "8081", check=1)
    assert p.stderr == ("error[vm_manager::vm::invalid_config]: VM 'w' forwards no host port "
                        "8081/tcp\nhelp: `vmctl port w` lists its forwards\n")
    p = vmctl.run("port", "w", "--rm", "8080/udp", check=1)
    assert "forwards no host port 8080/udp" in p.stderr
    p = vmctl.run("port", "w", "--add", "8080:81", check=1)
    assert p.stderr == ("error[vm_manager::vm::invalid_config]: VM 'w' already forwards host "
                        "port 8080/tcp (to guest port 80)\nhelp: remove it first (`vmctl port "
                        "w --rm 8080`), or pick another host port\n")
    # --rm first, then --add: a port moves to another guest port
    vmctl.run("port", "w", "--rm", "8080", "--add", "8080:81", check=0)
    assert record(vmctl, "w")["forwards"] == [fwd("tcp", "127.0.0.1", 8080, 81)]
    p = vmctl.run("port", "w", "--add", "80/sctp", check=2)
    assert "--add: invalid port forward '80/sctp': unknown protocol 'sctp'" in p.stderr
    p = vmctl.run("port", "w", "--rm", "8080:80", check=2)
    assert "--rm: invalid host port '8080:80'" in p.stderr
    p = vmctl.run("port", "w", "80", "--add", "1:2", check=2)
    assert "--add and --rm take no PORT" in p.stderr
    p = vmctl.run("port", "w", "8080:80", check=1)
    assert "names a host port" in p.stderr
    p = vmctl.run("port", "nope", check=1)
    assert "no VM named 'nope'" in p.stderr
    p = vmctl.run("port", check=2)
    assert "missing VM name" in p.stderr
    create(vmctl, image, "t", "--bridge", "br0")
    p = vmctl.run("port", "t", "--add", "80", check=1)
    assert "VM 't' uses tap networking: it has no port forwards" in p.stderr
    # nothing changed by the refusals
    assert record(vmctl, "w")["forwards"] == [fwd("tcp", "127.0.0.1", 8080, 81)]


@pytest.mark.parametrize("forwards,message", [
    ('{"protocol": "sctp", "address": "127.0.0.1", "host_port": 1, "guest_port": 1}',
     'field "forwards[0].protocol" must be "tcp" or "udp"'),
    ('{"protocol": "tcp", "address": "::1", "host_port": 1, "guest_port": 1}',
     'field "forwards[0].address" must be a dotted IPv4 address'),
    ('5', 'field "forwards[0]" must be an object'),
])
def test_corrupt_forwards_refused(vmctl, image, forwards, message):
    create(vmctl, image, "c")
    text = open(vmctl.store_path).read()
    doc = json.loads(text)
    doc["vms"]["c"]["forwards"] = "X"
    text = json.dumps(doc).replace('"X"', "[" + forwards + "]")
    with open(vmctl.store_path, "w") as f:
        f.write(text)
    p = vmctl.run("list", check=1)
    assert "error[vm_manager::store::corrupt]" in p.stderr
    assert f"VM 'c': {message}" in p.stderr
    assert open(vmctl.store_path).read() == text  # never rewritten


VMFILE = '''vm "web" {
    image "IMAGE"
    network "user" {
        forward 8080 80                     // host 127.0.0.1:8080 -> guest :80, tcp
        forward 5353 53 protocol="udp"
        forward 8443 443 address="0.0.0.0"  // listen on all host addresses
        forward 0 3000                      // vmctl picks the host port
    }
}
'''


def test_vmfile_forwards_plan_and_up(vmctl, image, tmp_path):
    (tmp_path / "VMFile.kdl").write_text(VMFILE.replace("IMAGE", image))
    out = vmctl.run("validate", cwd=tmp_path, check=0).stdout
    assert ("  network:     user\n"
            "  forward:     127.0.0.1:8080 -> 80/tcp\n"
            "               127.0.0.1:5353 -> 53/udp\n"
            "               0.0.0.0:8443 -> 443/tcp\n"
            "               127.0.0.1:(picked by vmctl) -> 3000/tcp\n") in out
    plan = json.loads(vmctl.run("validate", "--json", cwd=tmp_path, check=0).stdout)
    assert plan["vms"][0]["network"]["forwards"] == [
        {"protocol": "tcp", "address": "127.0.0.1", "host_port": 8080, "guest_port": 80},
        {"protocol": "udp", "address": "127.0.0.1", "host_port": 5353, "guest_port": 53},
        {"protocol": "tcp", "address": "0.0.0.0", "host_port": 8443, "guest_port": 443},
        {"protocol": "tcp", "address": "127.0.0.1", "host_port": None, "guest_port": 3000}]
    vmctl.run("up", cwd=tmp_path, check=0)
    assert record(vmctl, "web")["forwards"] == [
        fwd("tcp", "127.0.0.1", 8080, 80), fwd("udp", "127.0.0.1", 5353, 53),
        fwd("tcp", "0.0.0.0", 8443, 443), fwd("tcp", "127.0.0.1", 0, 3000, True)]


@pytest.mark.parametrize("body,where,message,hint", [
    ('network "user" {\n        forward 8080 80\n        forward 8080 81\n    }',
     "VMFile.kdl:5:17", "host port 8080/tcp is forwarded twice",
     "give each forward its own host port"),
    ('network "user" {\n        forward 70000 80\n    }', "VMFile.kdl:4:17",
     "the host port of `forward` must be an integer from 0 to 65535, got an integer `70000`",
     "for example: `forward 8080 80`"),
    ('network "user" {\n        forward 8080 0\n    }', "VMFile.kdl:4:22",
     "the guest port of `forward` must be an integer from 1 to 65535", None),
    ('network "user" {\n        forward 1 2 protocol="sctp"\n    }', "VMFile.kdl:4:30",
     'unknown protocol "sctp" of `forward`', 'protocol="udp"'),
    ('network "user" {\n        forward 1 2 address="::1"\n    }', "VMFile.kdl:4:29",
     '`address` "::1" is not an IPv4 address', 'address="0.0.0.0"'),
    ('network "user" {\n        forward 1 2 3\n    }', "VMFile.kdl:4:21",
     "`forward` takes two values (the host port, then the guest port), got 3", None),
    ('network "user" {\n        forward 80\n    }', "VMFile.kdl:4:9",
     "`forward` needs two integers (the host port, then the guest port)", None),
    ('network "tap" {\n        forward 80 80\n    }', "VMFile.kdl:4:9",
     '`forward` does not apply to network "tap"', 'forwards need `network "user"`'),
    ('network "none" {\n        forward 80 80\n    }', "VMFile.kdl:4:9",
     '`forward` does not apply to network "none"', 'forwards need `network "user"`'),
])
def test_vmfile_forward_errors(vmctl, image, tmp_path, body, where, message, hint):
    text = 'vm "web" {\n    image "IMAGE"\n    ' + body + '\n}\n'
    (tmp_path / "VMFile.kdl").write_text(text.replace("IMAGE", image))
    p = vmctl.run("validate", cwd=tmp_path, check=1)
    assert f"error[vm_manager::vmfile::validation]: {message}" in p.stderr
    assert f"--> {where}" in p.stderr
    if hint:
        assert hint in p.stderr.split("help: ", 1)[1].split("\n")[0]
    # up refuses it before anything is created
    vmctl.run("up", cwd=tmp_path, check=1)
    assert not os.path.exists(vmctl.store_path) or not json.load(
        open(vmctl.store_path))["vms"]
