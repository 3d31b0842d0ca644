# SPDX-License-Identifier: MIT
"""The propolis backend (illumos), end to end through the real vmctl, against
test doubles: no illumos machine runs these tests. propolis-server is the
double in tests/propolis/propolis_double.py (written from the server's
OpenAPI document, version 5.0.0: it rejects a request without the
api-version header or whose body or query does not validate against the
document's schemas, and keeps the instance's state and generations); zfs,
zonecfg, zoneadm, zlogin and dladm are the doubles in
tests/propolis/bin/fake-illumos (state in a directory, every call recorded,
impossible orders refused). The fake `zoneadm boot` starts the server
double, `halt` stops it, as the zone's propolis-server service would be.

No guest boots: the doubles answer as the real programs do, and the tests
check what vmctl sends them."""
import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import SRCDIR, Vmctl

PROPOLIS = os.path.join(SRCDIR, "tests", "propolis")
FAKE = os.path.join(PROPOLIS, "bin", "fake-illumos")
TOOLS = ("zfs", "zonecfg", "zoneadm", "zlogin", "dladm")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Illumos:
    """The doubles' world: a bin directory with the fake tools, their state
    directory and config, and vmctl's environment pointing at them."""

    def __init__(self, root, tools=TOOLS):
        self.root = root
        self.bin = os.path.join(root, "bin")
        self.dir = os.path.join(root, "illumos")
        os.makedirs(self.bin)
        os.makedirs(self.dir)
        for t in tools:
            os.symlink(FAKE, os.path.join(self.bin, t))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {"pools": ["rpool"], "vnics": ["vnic0"],
                       "listen": f"127.0.0.1:{self.port}"}
        self.write_config()

    def write_config(self, **changes):
        self.config.update(changes)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(self.config, f)

    def env(self):
        return {"PATH": self.bin + os.pathsep + os.environ["PATH"],
                "FAKE_ILLUMOS_DIR": self.dir,
                "VMCTL_ZVOL_DIR": os.path.join(self.dir, "zvol"),
                "VMCTL_PROPOLIS_URL": self.url,
                "VMCTL_PROPOLIS_TIMEOUT": "20"}

    def tool(self, *argv):
        return subprocess.run(list(argv), capture_output=True, text=True,
                              env={**os.environ, **self.env()})

    def calls(self):
        path = os.path.join(self.dir, "calls.jsonl")
        if not os.path.exists(path):
            return []
        return [json.loads(l) for l in open(path)]

    def changes(self):
        """The calls that change something (not the zfs/zoneadm queries)."""
        return [c for c in self.calls()
                if c[:2] != ["zfs", "list"] and c[3:4] != ["list"] and c[0] != "dladm"]

    def state(self):
        path = os.path.join(self.dir, "state.json")
        return json.load(open(path)) if os.path.exists(path) else \
            {"datasets": {"rpool": {"type": "filesystem"}}, "zones": {}}

    def requests(self):
        path = os.path.join(self.dir, "requests.jsonl")
        if not os.path.exists(path):
            return []
        return [json.loads(l) for l in open(path)]

    def cleanup(self):
        for z in self.state()["zones"].values():
            pid = z.get("server_pid")
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass


@pytest.fixture
def world(tmp_path):
    w = Illumos(str(tmp_path / "w"))
    yield w
    w.cleanup()


@pytest.fixture
def vm(data_home, world):
    v = Vmctl(data_home, backend=None)
    v.env.update(world.env())
    return v


@pytest.fixture
def qcow2(tmp_path):
    p = tmp_path / "noble.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(p), "64M"], check=True)
    return str(p)


def create(vm, qcow2, name="web", *extra, check=0):
    return vm.run("create", "--backend", "propolis", "--name", name, "--image", qcow2,
                  "--vnic", "vnic0", *extra, check=check)


def assert_all_valid(world):
    reqs = world.requests()
    assert reqs, "the server double received nothing"
    for r in reqs:
        assert r["valid"], r
        assert r.get("api_version", "5.0.0") == "5.0.0" or r["method"] == "WS", r
        assert not r.get("response_errors"), r
    return reqs


def ensure_body(world):
    bodies = [r["body"] for r in world.requests() if r.get("op") == "instance_ensure"]
    assert bodies, "no PUT /instance"
    return bodies[-1]


def iso_file(iso, name):
    return subprocess.run(["isoinfo", "-R", "-i", iso, "-x", "/" + name], check=True,
                          capture_output=True).stdout.decode()


def test_lifecycle_on_the_doubles(vm, world, qcow2, tmp_path):
    p = create(vm, qcow2, "web", "--disk", "1", "--vcpus", "2", "--memory", "2048")
    assert "propolis backend" in p.stdout
    assert world.changes() == [
        ["zfs", "create", "-p", "-V", str(64 << 20), "rpool/vmctl/images/noble.qcow2"],
        ["zfs", "snapshot", "rpool/vmctl/images/noble.qcow2@base"],
        ["zfs", "clone", "-p", "rpool/vmctl/images/noble.qcow2@base", "rpool/vms/web"],
        ["zfs", "set", "volsize=1G", "rpool/vms/web"],
        ["zonecfg", "-z", "web",
         "create -b; set brand=nebula-vm; "
         f"set zonepath={vm.data_dir}/vms/web/zone; set ip-type=exclusive; "
         "add net; set physical=vnic0; end; "
         f"add device; set match={world.dir}/zvol/rpool/vms/web; end; commit"],
        ["zoneadm", "-z", "web", "install"],
    ]
    assert ["dladm", "show-vnic", "-p", "-o", "LINK", "vnic0"] in world.calls()
    st = world.state()
    assert st["zones"]["web"]["state"] == "installed"
    assert st["datasets"]["rpool/vms/web"]["origin"] == "rpool/vmctl/images/noble.qcow2@base"
    assert st["datasets"]["rpool/vms/web"]["volsize"] == 1 << 30
    assert world.requests() == []  # nothing talks to a server before start

    n = len(world.changes())
    vm.run("start", "web", check=0)
    assert world.changes()[n:] == [["zoneadm", "-z", "web", "boot"]]
    reqs = assert_all_valid(world)
    assert [(r["method"], r["path"], r.get("status")) for r in reqs][:4] == [
        ("GET", "/instance", 424), ("PUT", "/instance", 201),
        ("GET", "/instance/state-monitor", 200), ("PUT", "/instance/state", 204)]
    assert [r["body"] for r in reqs if r["path"] == "/instance/state"] == ["Run"]
    gens = [r["body"]["gen"] for r in reqs if r["path"] == "/instance/state-monitor"]
    assert gens[0] == 0 and gens == sorted(gens) and len(gens) >= 2

    body = ensure_body(world)
    spec = body["init"]["value"]["spec"]
    assert body["properties"]["name"] == "web"
    assert body["properties"]["id"].replace("-", "") == \
        json.loads(vm.run("status", "web", "--json", check=0).stdout)["id"]
    assert spec["board"]["cpus"] == 2 and spec["board"]["memory_mb"] == 2048
    comps = spec["components"]
    assert comps["disk0-backend"]["component"]["path"] == f"{world.dir}/zvol/rpool/vms/web"
    assert comps["net0-backend"]["component"] == {"vnic_name": "vnic0"}
    assert comps["com1"]["component"] == {"num": "com1"}
    assert comps["boot-settings"]["component"]["order"] == [{"id": "disk0"}]
    # the seed, decoded from the body, is the VM's NoCloud seed
    iso = tmp_path / "seed.iso"
    iso.write_bytes(base64.b64decode(comps["cloud-init-backend"]["component"]["base64"]))
    assert comps["cloud-init-backend"]["component"]["readonly"] is True
    assert iso.read_bytes() == open(f"{vm.data_dir}/vms/web/seed.iso", "rb").read()
    user_data, meta_data = iso_file(str(iso), "user-data"), iso_file(str(iso), "meta-data")
    assert user_data.startswith("#cloud-config")
    assert '"vm"' in user_data and "ssh-ed25519" in user_data
    assert 'local-hostname: "web"' in meta_data and "instance-id" in meta_data
    assert "cidata" in subprocess.run(["isoinfo", "-d", "-i", str(iso)], check=True,
                                      capture_output=True, text=True).stdout

    s = json.loads(vm.run("status", "web", "--json", check=0).stdout)
    assert s["state"] == "running" and s["backend"] == "propolis"

    # console: the double's boot banner comes out, typed bytes reach it and
    # come back as its terminal echoes them
    p = vm.run("console", "web", input="echo ping-42\n", timeout=60, check=0)
    assert "web booted on com1" in p.stdout and "echo ping-42" in p.stdout, p
    ws = [r for r in world.requests() if r["method"] == "WS"]
    assert "".join(r["received"] for r in ws) == "echo ping-42\n"
    serial = [r for r in world.requests() if r["path"] == "/instance/serial" and
              r["method"] == "GET"]
    assert serial and serial[-1]["status"] == 101

    p = vm.run("suspend", "web", check=1)
    assert "backend::not_available" in p.stderr and "help:" in p.stderr

    n = len(world.changes())
    vm.run("stop", "web", check=0)
    assert world.changes()[n:] == [["zoneadm", "-z", "web", "halt"]]
    assert [r["body"] for r in world.requests() if r["path"] == "/instance/state"][-1] == "Stop"
    assert world.state()["zones"]["web"]["state"] == "installed"
    assert json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] == "stopped"
    log = vm.run("log", "web", "--console", check=0).stdout
    assert "web booted on com1" in log and "ping-42" in log and "powering off" in log

    # a new zone boot is a new server: a new ensure, and it runs again
    vm.run("start", "web", check=0)
    assert len([r for r in world.requests() if r.get("op") == "instance_ensure"]) == 2
    assert json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] == "running"

    n = len(world.changes())
    vm.run("destroy", "web", check=0)
    assert world.changes()[n:] == [
        ["zoneadm", "-z", "web", "halt"],
        ["zoneadm", "-z", "web", "uninstall", "-F"],
        ["zonecfg", "-z", "web", "delete", "-F"],
        ["zfs", "destroy", "-r", "rpool/vms/web"],
    ]
    st = world.state()
    assert st["zones"] == {} and "rpool/vms/web" not in st["datasets"]
    assert "rpool/vmctl/images/noble.qcow2@base" in st["datasets"]  # kept for the next VM
    assert_all_valid(world)
    assert vm.run("list", check=0).stdout.count("\n") <= 1
    ops = {r.get("op") for r in world.requests()}
    assert ops >= {"instance_get", "instance_ensure", "instance_state_put",
                   "instance_state_monitor", "instance_serial",
                   "instance_serial_history_get"}


def test_second_vm_reuses_the_image_volume(vm, world, qcow2):
    create(vm, qcow2, "a")
    n = len(world.changes())
    create(vm, qcow2, "b")
    assert [c[:2] for c in world.changes()[n:]] == [
        ["zfs", "clone"], ["zonecfg", "-z"], ["zoneadm", "-z"]]
    # the image volume cannot go while a clone depends on it
    p = world.tool("zfs", "destroy", "-r", "rpool/vmctl/images/noble.qcow2")
    assert p.returncode == 1 and "dependent clones" in p.stderr


def test_state_falls_back_to_the_zone(vm, world, qcow2):
    create(vm, qcow2, "web", "--start")
    pid = world.state()["zones"]["web"]["server_pid"]
    os.kill(pid, signal.SIGTERM)  # the server goes, the zone still runs
    time.sleep(0.3)
    assert json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] == "running"
    assert world.tool("zoneadm", "-z", "web", "halt").returncode == 0
    assert json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] == "stopped"
    assert vm.run("destroy", "web", check=0)
    assert world.state()["zones"] == {}


def no_vm_left(vm, world, datasets=("rpool",)):
    """A failed create leaves nothing: no entry, no zone, no clone."""
    assert json.loads(vm.run("list", "--json", check=0).stdout) == []
    st = world.state()
    assert st["zones"] == {}
    assert not [d for d in st["datasets"] if d.startswith("rpool/vms/")], st


@pytest.mark.parametrize("missing", ["zfs", "zonecfg", "zoneadm", "dladm"])
def test_tool_missing(data_home, tmp_path, qcow2, missing):
    w = Illumos(str(tmp_path / "w"), tools=[t for t in TOOLS if t != missing])
    v = Vmctl(data_home, backend=None)
    v.env.update(w.env())
    v.env["PATH"] = w.bin + ":/usr/bin:/bin"
    p = create(v, qcow2, check=1)
    assert "backend::not_available" in p.stderr, p.stderr
    assert f"cannot run '{missing}': not found on PATH" in p.stderr, p.stderr
    assert "help:" in p.stderr and "illumos" in p.stderr
    no_vm_left(v, w)


def test_zoneadm_install_fails(vm, world, qcow2):
    world.write_config(fail={"zoneadm install": "zone 'web': brand nebula-vm: install failed"})
    p = create(vm, qcow2, check=1)
    assert "`zoneadm -z web install` failed (exit 1)" in p.stderr, p.stderr
    assert "brand nebula-vm: install failed" in p.stderr
    assert "help: the zones and their states: `zoneadm list -cv`" in p.stderr
    no_vm_left(vm, world)
    assert world.changes()[-2:] == [["zonecfg", "-z", "web", "delete", "-F"],
                                    ["zfs", "destroy", "-r", "rpool/vms/web"]]


def test_image_dataset_without_snapshot(vm, world, qcow2):
    assert world.tool("zfs", "create", "-p", "-V", "64M",
                      "rpool/vmctl/images/noble.qcow2").returncode == 0
    p = create(vm, qcow2, check=1)
    assert "image::not_found" in p.stderr and "has no snapshot @base" in p.stderr, p.stderr
    assert "zfs destroy -r" in p.stderr
    no_vm_left(vm, world)


def test_import_failure_leaves_no_image_volume(vm, world, qcow2):
    world.write_config(fail={"zfs snapshot": "out of space"})
    p = create(vm, qcow2, check=1)
    assert "`zfs snapshot rpool/vmctl/images/noble.qcow2@base` failed" in p.stderr, p.stderr
    no_vm_left(vm, world)
    assert "rpool/vmctl/images/noble.qcow2" not in world.state()["datasets"]


def test_vnic_missing(vm, world, qcow2):
    p = vm.run("create", "--backend", "propolis", "--name", "web", "--image", qcow2,
               "--vnic", "vnic9", check=1)
    assert "VNIC 'vnic9' does not exist" in p.stderr and "dladm create-vnic" in p.stderr
    assert world.changes() == []
    no_vm_left(vm, world)


def test_pool_missing(vm, world, qcow2):
    p = vm.run("create", "--backend", "propolis", "--name", "web", "--image", qcow2,
               "--vnic", "vnic0", env={"VMCTL_ZFS_POOL": "tank"}, check=1)
    assert "ZFS pool 'tank' does not exist" in p.stderr and "VMCTL_ZFS_POOL" in p.stderr
    no_vm_left(vm, world)


def test_user_networking_refused(vm, world, qcow2):
    p = vm.run("create", "--backend", "propolis", "--name", "web", "--image", qcow2, check=1)
    assert "user networking is not available on the propolis backend" in p.stderr
    assert 'network "vnic"' in p.stderr
    assert world.calls() == []


def failed_start(vm, world, qcow2, timeout="30"):
    """A start that fails; timeout: VMCTL_PROPOLIS_TIMEOUT, which bounds the
    wait for the server (a Python double that may start slowly under load)
    and then for Running."""
    create(vm, qcow2)
    p = vm.run("start", "web", env={"VMCTL_PROPOLIS_TIMEOUT": timeout}, check=1)
    # the VM is recorded failed, its zone halted again: nothing half-started
    assert json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] == "failed"
    assert world.state()["zones"]["web"]["state"] == "installed"
    assert world.changes()[-2:] == [["zoneadm", "-z", "web", "boot"],
                                    ["zoneadm", "-z", "web", "halt"]] or \
        world.changes()[-1] == ["zoneadm", "-z", "web", "halt"]
    return p


def test_server_never_up(vm, world, qcow2):
    world.write_config(server_refuse=True)
    p = failed_start(vm, world, qcow2, timeout="2")
    assert "propolis::unreachable" in p.stderr, p.stderr
    assert f"never came up: polled GET {world.url}/instance every 250 ms for 2 s" in p.stderr
    assert "VMCTL_PROPOLIS_TIMEOUT" in p.stderr
    # and the VM can go
    vm.run("destroy", "web", check=0)
    no_vm_left(vm, world)


def test_version_mismatch(vm, world, qcow2):
    world.write_config(server_fail=["version"])
    p = failed_start(vm, world, qcow2)
    assert "answered GET /instance with 400" in p.stderr, p.stderr
    assert "server does not support this API version: 5.0.0" in p.stderr
    assert "speaks propolis-server API 5.0.0" in p.stderr


def test_ensure_fails(vm, world, qcow2):
    world.write_config(server_fail=["ensure-500"])
    p = failed_start(vm, world, qcow2)
    assert "answered PUT /instance with 500 Internal: bhyve: vm create failed" in p.stderr, \
        p.stderr


def test_never_running(vm, world, qcow2):
    world.write_config(server_fail=["never-running"])
    p = failed_start(vm, world, qcow2, timeout="8")
    assert "was not Running after 8 s (it is Starting;" in p.stderr, p.stderr
    assert "state-monitor" in p.stderr


def test_instance_fails(vm, world, qcow2):
    world.write_config(server_fail=["fail-run"])
    p = failed_start(vm, world, qcow2)
    assert "propolis-server reports it Failed" in p.stderr, p.stderr


def test_boot_before_install_is_refused(world):
    """The doubles refuse what illumos refuses: the tests could fail."""
    script = ("create -b; set brand=nebula-vm; set zonepath=/z; set ip-type=exclusive; "
              "commit")
    assert world.tool("zonecfg", "-z", "z1", script).returncode == 0
    p = world.tool("zoneadm", "-z", "z1", "boot")
    assert p.returncode == 1 and "boot needs an installed zone" in p.stderr
    p = world.tool("zfs", "clone", "rpool/none@base", "rpool/vms/x")
    assert p.returncode == 1 and "does not exist" in p.stderr
    p = world.tool("zonecfg", "-z", "z2", script.replace("nebula-vm", "bhyve"))
    assert p.returncode == 1 and "unknown brand" in p.stderr


def test_server_double_is_strict(world, tmp_path):
    """Requests without the version header, or with a body the document
    rejects, are refused and recorded as invalid."""
    log = tmp_path / "req.jsonl"
    srv = subprocess.Popen(["/usr/bin/python3", os.path.join(PROPOLIS, "propolis_double.py"),
                            "--listen", f"127.0.0.1:{world.port}", "--log", str(log)],
                           stderr=subprocess.DEVNULL)
    try:
        def req(method, path, body=None, version="5.0.0"):
            r = urllib.request.Request(world.url + path, method=method,
                                       data=None if body is None else json.dumps(body).encode())
            if version:
                r.add_header("api-version", version)
            try:
                with urllib.request.urlopen(r, timeout=10) as resp:
                    return resp.status, json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        deadline = time.monotonic() + 30
        while True:
            try:
                st, body = req("GET", "/instance")
                break
            except OSError:
                assert time.monotonic() < deadline, "the double never listened"
                time.sleep(0.1)
        assert (st, body["error_code"]) == (424, "NoInstance")
        st, body = req("GET", "/instance", version=None)
        assert st == 400 and "api-version" in body["message"]
        st, body = req("GET", "/instance", version="4.0.0")
        assert st == 400 and "version" in body["message"]
        bad = {"properties": {"id": "propolis-1234", "name": "x", "description": "",
                              "metadata": {}},
               "init": {"method": "Spec", "value": {"spec": {"board": {}, "components": {}}}}}
        st, body = req("PUT", "/instance", bad)
        assert st == 400 and "is not a 'uuid'" in body["message"] or "UUID" in body["message"]
        st, body = req("PUT", "/instance/state", "Pause")
        assert st == 400
        entries = [json.loads(l) for l in open(log)]
        assert [e["valid"] for e in entries] == [True, False, False, False, False]
    finally:
        srv.terminate()
        srv.wait()


def test_vmfile_backend_propolis(vm, world, qcow2, tmp_path):
    """`backend "propolis"` in a vm block picks the backend whatever
    VMCTL_BACKEND says; `network "vnic"` names the zone's VNIC."""
    (tmp_path / "VMFile.kdl").write_text(
        'vm "db" {\n'
        f'    image "{qcow2}"\n'
        '    backend "propolis"\n'
        '    network "vnic" {\n'
        '        name "vnic0"\n'
        '    }\n'
        '}\n')
    vm.run("up", "--no-provision", cwd=str(tmp_path), env={"VMCTL_BACKEND": "noop"},
           timeout=120, check=0)
    s = json.loads(vm.run("status", "db", "--json", check=0).stdout)
    assert (s["backend"], s["state"]) == ("propolis", "running")
    assert world.state()["zones"]["db"]["net"] == ["vnic0"]
    assert_all_valid(world)
    vm.run("down", "--destroy", cwd=str(tmp_path), timeout=120, check=0)
    no_vm_left(vm, world)


def test_vmfile_backend_unknown(vm, tmp_path, qcow2):
    (tmp_path / "VMFile.kdl").write_text(
        f'vm "db" {{\n    image "{qcow2}"\n    backend "propolys"\n}}\n')
    p = vm.run("validate", cwd=str(tmp_path), check=1)
    assert "unknown backend `propolys`" in p.stderr and "did you mean `propolis`" in p.stderr


def test_guest_ip_from_the_zone(vm, world, qcow2):
    """`vmctl ssh` asks the zone for its address (zlogin ... ipadm
    show-addr), skipping loopback; nothing listens there, so the connection
    is refused at that address."""
    world.write_config(zone_addr="127.0.0.9/8")
    create(vm, qcow2, "web", "--start")
    p = vm.run("ssh", "web", "--", "true", timeout=120, check=None)
    assert p.returncode != 0
    assert ["zlogin", "web", "ipadm", "show-addr", "-p", "-o", "ADDR"] in world.calls()
    assert "127.0.0.9" in p.stderr, p.stderr
    vm.run("stop", "web", check=0)
    p = vm.run("ssh", "web", "--", "true", timeout=60, check=None)
    assert p.returncode != 0 and "127.0.0.9" not in p.stderr


def test_instance_stopped_behind_vmctl(vm, world, qcow2):
    """The guest powered off inside a zone that still runs: the VM reads as
    stopped; a start halts the zone (its server holds a finished instance)
    and says so, and the next start boots a new server."""
    create(vm, qcow2, "web", "--start")
    r = urllib.request.Request(world.url + "/instance/state", method="PUT",
                               data=b'"Stop"', headers={"api-version": "5.0.0",
                                                        "Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=10) as resp:
        assert resp.status == 204
    deadline = time.monotonic() + 30
    while json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] != "stopped":
        assert time.monotonic() < deadline, "the instance never stopped"
        time.sleep(0.2)
    p = vm.run("start", "web", check=1)
    assert "holds an instance that is" in p.stderr and "start the VM again" in p.stderr
    assert world.state()["zones"]["web"]["state"] == "installed"
    vm.run("start", "web", check=0)
    assert json.loads(vm.run("status", "web", "--json", check=0).stdout)["state"] == "running"
    vm.run("destroy", "web", check=0)
    no_vm_left(vm, world)


def test_console_on_a_terminal_detaches_with_ctrl_bracket(vm, world, qcow2):
    """On a terminal the console is raw: typed bytes reach the serial
    WebSocket as they are, and Ctrl+] detaches (it is not sent)."""
    import pty
    import select

    create(vm, qcow2, "web", "--start")
    master, slave = pty.openpty()
    proc = vm.popen("console", "web", stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""

    def read_until(text, secs=30):
        nonlocal out
        deadline = time.monotonic() + secs
        while text not in out:
            assert time.monotonic() < deadline, out
            if select.select([master], [], [], 0.2)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        return out

    try:
        read_until(b"login: ")
        os.write(master, b"root\r")
        read_until(b"root\r")
        os.write(master, b"\x1d")
        read_until(b"Detached from the console of 'web'")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    ws = [r["received"] for r in world.requests() if r["method"] == "WS"]
    assert "".join(ws) == "root\r"  # Ctrl+] stayed on this side


def test_interrupted_create_is_destroyed(vm, world, qcow2):
    """vmctl killed while the zone installs: the entry stays "preparing",
    and destroy removes the zone and the clone it had made."""
    world.write_config(sleep={"zoneadm install": 60})
    proc = subprocess.Popen([vm.bin, "create", "--backend", "propolis", "--name", "web",
                             "--image", qcow2, "--vnic", "vnic0"], env=vm.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while ["zoneadm", "-z", "web", "install"] not in world.calls():
        assert time.monotonic() < deadline and proc.poll() is None, "install never ran"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # vmctl and the install under way
    proc.wait()
    world.write_config(sleep={})
    s = json.loads(vm.run("status", "web", "--json", check=0).stdout)
    assert s["state"] == "preparing"
    assert world.state()["zones"]["web"]["state"] == "configured"
    vm.run("destroy", "web", check=0)
    no_vm_left(vm, world)
    assert world.changes()[-2:] == [["zonecfg", "-z", "web", "delete", "-F"],
                                    ["zfs", "destroy", "-r", "rpool/vms/web"]]
