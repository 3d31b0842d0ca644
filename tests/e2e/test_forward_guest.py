# SPDX-License-Identifier: MIT
"""Port forwards end to end, with real QEMU and the test guest: busybox
httpd in the guest answers curl on the forwarded host port, a UDP echo
answers through a /udp forward, a port vmctl picked answers, a port added
live answers and a removed one stops answering, a port already held is
refused naming the holder (another process, another VM), a port vmctl
picked that is taken while the VM is stopped is picked anew at the next
start, and 16 concurrent creates with `-p 0:80` get 16 distinct host ports.

Ports are reserved when a VM is created (before it is prepared), so these
creates need no start.
"""
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "lib"))

from conftest import Vmctl  # noqa: E402
from guest import guest_image_path  # noqa: E402

T = 600  # one command may boot a guest under software emulation, on a busy host


@pytest.fixture(scope="module")
def guest_image():
    return guest_image_path()


@pytest.fixture
def qvm(data_home):
    v = Vmctl(data_home, backend=None)
    v.env.pop("VMCTL_QEMU", None)
    yield v
    try:
        names = list(json.load(open(v.store_path))["vms"])
    except FileNotFoundError:
        names = []
    for name in names:
        v.run("destroy", name, timeout=120)


def free_port(kind=socket.SOCK_STREAM):
    """A host port nobody holds now, in TCP and UDP."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port < 10022 or port > 10999:  # not in vmctl's own range
            return port


def curl(port, timeout=5):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout),
                           f"http://127.0.0.1:{port}/index.html"],
                          capture_output=True, text=True)


def http_answers(port, deadline_s=120):
    """curl until the guest's page comes back (slirp accepts at once and
    retries towards the guest, so one refusal proves nothing)."""
    end = time.monotonic() + deadline_s
    while True:
        p = curl(port)
        if p.returncode == 0 and p.stdout == "hello from the guest\n":
            return True
        if time.monotonic() > end:
            raise AssertionError(f"port {port}: curl exit {p.returncode}: {p.stderr}")
        time.sleep(1)


def udp_echo(port, payload, deadline_s=120):
    end = time.monotonic() + deadline_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        while True:
            s.sendto(payload, ("127.0.0.1", port))
            try:
                data, _ = s.recvfrom(65536)
                if data == payload:
                    return True
            except socket.timeout:
                pass
            if time.monotonic() > end:
                raise AssertionError(f"no UDP echo through port {port}")


def vm_record(qvm, name):
    return json.load(open(qvm.store_path))["vms"][name]


VMFILE = """
vm "fw" {
    image "guest.qcow2"
    memory 256
    cloud-init {
        hostname "fw"
    }
    network "user" {
        forward HTTP 80
        forward UDP 5353 protocol="udp"
        forward 0 8081
    }
    provision "shell" {
        inline "mkdir -p /tmp/www && echo 'hello from the guest' > /tmp/www/index.html && sudo -n httpd -p 80 -h /tmp/www && httpd -p 8081 -h /tmp/www && start-stop-daemon -S -b -x /bin/udp-echo -- 5353 && echo served"
    }
}
"""


def test_forwards_carry_packets(qvm, tmp_path, guest_image):
    http, udp = free_port(), free_port(socket.SOCK_DGRAM)
    os.symlink(guest_image, tmp_path / "guest.qcow2")
    (tmp_path / "VMFile.kdl").write_text(
        VMFILE.replace("HTTP", str(http)).replace("UDP", str(udp)))
    p = qvm.run("up", cwd=tmp_path, timeout=T, check=0)
    assert "served" in open(os.path.join(vm_record(qvm, "fw")["work_dir"],
                                         "provision.log")).read()

    # TCP through the forward given, UDP through /udp
    http_answers(http)
    udp_echo(udp, b"ping through slirp\n")
    # the port vmctl picked, as `vmctl port` and `list` show it
    fwds = vm_record(qvm, "fw")["forwards"]
    picked = fwds[2]["host_port"]
    assert fwds[2]["auto"] is True and 10022 <= picked <= 10999
    assert picked != vm_record(qvm, "fw")["ssh_host_port"]
    assert qvm.run("port", "fw", "8081", check=0).stdout == f"127.0.0.1:{picked}\n"
    assert qvm.run("port", "fw", check=0).stdout == (
        f"80/tcp -> 127.0.0.1:{http}\n5353/udp -> 127.0.0.1:{udp}\n"
        f"8081/tcp -> 127.0.0.1:{picked}\n")
    row = qvm.run("list", check=0).stdout.splitlines()[1].split()
    assert row[-2] == f"{http}->80/tcp,{udp}->5353/udp,{picked}->8081/tcp"
    http_answers(picked)

    # added live: answers at once; removed live: no longer
    live = free_port()
    p = qvm.run("port", "fw", "--add", f"{live}:80", check=0)
    assert p.stdout == f"Added 80/tcp -> 127.0.0.1:{live}\n"
    http_answers(live, deadline_s=60)
    assert {"protocol": "tcp", "address": "127.0.0.1", "host_port": live, "guest_port": 80,
            "auto": False} in vm_record(qvm, "fw")["forwards"]
    qvm.run("port", "fw", "--rm", str(live), check=0)
    p = curl(live, timeout=3)
    assert p.returncode != 0, p.stdout
    assert live not in [f["host_port"] for f in vm_record(qvm, "fw")["forwards"]]
    http_answers(http)  # the others still do
    # a UDP one added live
    live_udp = free_port(socket.SOCK_DGRAM)
    qvm.run("port", "fw", "--add", f"{live_udp}:5353/udp", check=0)
    udp_echo(live_udp, b"live udp", deadline_s=60)
    qvm.run("port", "fw", "--rm", f"{live_udp}/udp", check=0)

    # QEMU's own refusal, which HMP reports as text in a successful reply:
    # a forward recorded that QEMU does not have cannot be removed live
    ghost = free_port()
    doc = json.load(open(qvm.store_path))
    doc["vms"]["fw"]["forwards"].append({"protocol": "tcp", "address": "127.0.0.1",
                                         "host_port": ghost, "guest_port": 1, "auto": False})
    with open(qvm.store_path, "w") as f:
        json.dump(doc, f)
    p = qvm.run("port", "fw", "--rm", str(ghost), check=1)
    assert (f"error[vm_manager::qemu::qmp_command_failed]: QEMU refused `hostfwd_remove net0 "
            f"tcp:127.0.0.1:{ghost}`: host forwarding rule for tcp:127.0.0.1:{ghost} not found"
            ) in p.stderr
    assert vm_record(qvm, "fw")["forwards"][-1]["host_port"] == ghost  # still recorded
    doc["vms"]["fw"]["forwards"].pop()
    with open(qvm.store_path, "w") as f:
        json.dump(doc, f)

    # a host port another process holds: refused, naming it, nothing changed
    before = vm_record(qvm, "fw")["forwards"]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        p = qvm.run("port", "fw", "--add", f"{port}:80", check=1)
        assert (f"error[vm_manager::network::port_allocation_failed]: host port {port}/tcp "
                f"on 127.0.0.1 is held by another process") in p.stderr
        assert f"ss -ltnp 'sport = :{port}'" in p.stderr
        p = qvm.run("create", "--name", "other", "--image", guest_image, "-p", f"{port}:80",
                    timeout=T, check=1)
        assert f"host port {port}/tcp on 127.0.0.1 is held by another process" in p.stderr
    assert vm_record(qvm, "fw")["forwards"] == before
    # one another VM forwards: refused naming that VM
    p = qvm.run("create", "--name", "other", "--image", guest_image, "-p", f"{http}:80",
                timeout=T, check=1)
    assert f"host port {http}/tcp is held by VM 'fw'" in p.stderr
    assert "`vmctl port fw`" in p.stderr
    assert list(json.load(open(qvm.store_path))["vms"]) == ["fw"]

    # stopped, its picked port taken by someone else: the next start picks anew
    qvm.run("stop", "fw", timeout=T, check=0)
    with socket.socket() as squat:
        # curl's connections may linger in TIME_WAIT on it
        squat.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squat.bind(("127.0.0.1", picked))
        squat.listen(1)
        qvm.run("start", "fw", timeout=T, check=0)
        again = vm_record(qvm, "fw")["forwards"][2]["host_port"]
        assert again != picked and 10022 <= again <= 10999
        assert qvm.run("port", "fw", "8081", check=0).stdout == f"127.0.0.1:{again}\n"
        # the ports given stay as given
        assert vm_record(qvm, "fw")["forwards"][0]["host_port"] == http
    qvm.run("destroy", "fw", timeout=120, check=0)


def test_concurrent_creates_get_distinct_ports(qvm, guest_image):
    n = 16

    def create(i):
        return qvm.run("create", "--name", f"c{i:02d}", "--image", guest_image,
                       "-p", "0:80", timeout=T)

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(create, range(n)))
    for p in results:
        assert p.returncode == 0, p.stderr
    vms = json.load(open(qvm.store_path))["vms"]
    assert len(vms) == n
    fwd = [v["forwards"][0]["host_port"] for v in vms.values()]
    ssh = [v["ssh_host_port"] for v in vms.values()]
    assert len(set(fwd)) == n, fwd
    assert not set(fwd) & set(ssh), (fwd, ssh)
    assert all(v["forwards"][0]["auto"] for v in vms.values())
    # what create printed is what was recorded
    for i, p in enumerate(results):
        port = vms[f"c{i:02d}"]["forwards"][0]["host_port"]
        assert f"Forwarding {port}->80/tcp\n" in p.stdout
