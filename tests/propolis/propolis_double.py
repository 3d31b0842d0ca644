#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A test double of propolis-server (API 5.0.0), written from its OpenAPI
document (propolis-server-5.0.0.json beside this file, from
oxidecomputer/propolis, MPL-2.0). It is no hypervisor: it keeps an
instance's state and generations as the real server reports them, and is
as strict as the real one about what it is sent.

- Every request must carry `api-version: 5.0.0` (400 otherwise, as
  dropshot answers).
- Every request body and query is validated against the document's schemas
  (python3-jsonschema, $ref resolved into components/schemas); an invalid
  one is answered 400 and recorded as invalid. Every answer is validated
  too, so the double cannot drift from the document.
- GET /instance answers 424 NoInstance before an ensure; PUT /instance
  creates the instance (Creating); PUT /instance/state "Run" goes
  Starting -> Running, "Stop" Stopping -> Stopped -> Destroyed, each step a
  new generation; GET /instance/state-monitor long-polls until the
  generation asked for; 410 once the instance is gone and past it.
- GET /instance/serial upgrades to a WebSocket (python3-websockets'
  sans-I/O connection): the guest's console bytes in binary frames; bytes
  sent to it are echoed back as a terminal would and recorded.
  GET /instance/serial/history returns the buffer.

Failure switches (--fail, repeatable): ensure-500 (PUT /instance answers
500), never-running (stays Starting), fail-run (goes Failed),
version (the server speaks another API version and refuses 5.0.0).

Every request is appended to --log as one JSON line: method, path, query,
api-version, operation, valid, errors, body.
"""
import argparse
import copy
import json
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
from websockets.frames import Opcode
from websockets.server import ServerConnection

HERE = __file__.rsplit("/", 1)[0]
API_VERSION = "5.0.0"


def load_document(path):
    """The OpenAPI document, its OpenAPI 3.0 `nullable` made JSON Schema."""
    doc = json.load(open(path))

    def fix(node):
        if isinstance(node, dict):
            node = {k: fix(v) for k, v in node.items()}
            if node.pop("nullable", False):
                return {"anyOf": [{"type": "null"}, node]}
            return node
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    return fix(doc)


class Api:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver.from_schema(doc)
        self.formats = jsonschema.FormatChecker()

        @self.formats.checks("uuid", raises=ValueError)
        def is_uuid(value):
            if isinstance(value, str):
                if str(uuid.UUID(value)) != value.lower():
                    raise ValueError(f"{value!r} is not a hyphenated UUID")
            return True

    def errors(self, schema, value):
        v = jsonschema.Draft7Validator(schema, resolver=self.resolver,
                                       format_checker=self.formats)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in v.iter_errors(value)]

    def operation(self, method, path):
        item = self.doc["paths"].get(path)
        return item.get(method.lower()) if item else None

    def check_request(self, op, query, body):
        errs = []
        for p in op.get("parameters", []):
            if p["in"] == "query" and p["name"] in query:
                try:
                    val = int(query[p["name"]])
                except ValueError:
                    errs.append(f"query {p['name']}: not an integer")
                    continue
                errs += [f"query {e}" for e in self.errors(p["schema"], val)]
        known = {p["name"] for p in op.get("parameters", [])}
        errs += [f"query {k}: unknown parameter" for k in query if k not in known]
        rb = op.get("requestBody")
        if rb:
            if body is None:
                errs.append("(body): required, none sent")
            else:
                schema = rb["content"]["application/json"]["schema"]
                errs += self.errors(schema, body)
        elif body is not None:
            errs.append("(body): this operation takes none")
        return errs

    def check_response(self, op, status, body):
        resp = op["responses"].get(str(status)) or op["responses"].get(f"{str(status)[0]}XX")
        if resp is None:
            return [f"status {status} is not in the document"]
        if "$ref" in resp:
            resp = self.doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
        content = resp.get("content")
        if not content:
            return [] if body is None else ["a body where the document has none"]
        return self.errors(content["application/json"]["schema"], body)


class Instance:
    """The server's state: one instance at most, its generations."""

    def __init__(self, fail):
        self.fail = fail
        self.cond = threading.Condition()
        self.props = None
        self.spec = None
        self.state = None
        self.gen = 0
        self.serial = bytearray()
        self.readers = []  # callables taking new console bytes

    def set_state(self, state):
        with self.cond:
            self.state = state
            self.gen += 1
            self.cond.notify_all()

    def output(self, data):
        with self.cond:
            self.serial += data
            readers = list(self.readers)
        for r in readers:
            r(data)

    def later(self, delay, fn):
        t = threading.Timer(delay, fn)
        t.daemon = True
        t.start()

    def run(self):
        self.set_state("Starting")
        if "never-running" in self.fail:
            return
        if "fail-run" in self.fail:
            self.later(0.2, lambda: self.set_state("Failed"))
            return

        def up():
            self.set_state("Running")
            self.output(f"[double] {self.props['name']} booted on com1\r\n"
                        "login: ".encode())
        self.later(0.2, up)

    def stop(self):
        self.set_state("Stopping")

        def down():
            self.output(b"\r\n[double] powering off\r\n")
            self.set_state("Stopped")
            self.later(0.2, lambda: self.set_state("Destroyed"))
        self.later(0.2, down)


def error_body(code, message):
    return {"error_code": code, "message": message, "request_id": str(uuid.uuid4())}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "propolis-double"

    def log_message(self, fmt, *args):
        pass

    def record(self, entry):
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def send_json(self, status, body):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, op, status, body, entry):
        errs = self.server.api.check_response(op, status, body) if op else []
        if errs:
            entry["response_errors"] = errs
        entry["status"] = status
        self.record(entry)
        self.send_json(status, body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        entry = {"method": self.command, "path": url.path, "query": query,
                 "api_version": self.headers.get("api-version"), "valid": False,
                 "errors": [], "body": None}
        op = self.server.api.operation(self.command, url.path)
        entry["op"] = op and op.get("operationId")
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as e:
                entry["errors"] = [f"(body): not JSON: {e}"]
                entry["body"] = raw.decode(errors="replace")
                return self.answer(op, 400, error_body(None, "invalid JSON body"), entry)
        entry["body"] = body
        version = self.headers.get("api-version")
        if version is None:
            entry["errors"] = ["no api-version header"]
            return self.answer(op, 400, error_body(
                None, 'missing expected header "api-version"'), entry)
        served = "6.0.0" if "version" in self.server.fail else API_VERSION
        if version != served:
            entry["errors"] = [f"api-version {version}, server speaks {served}"]
            return self.answer(op, 400, error_body(
                None, f"server does not support this API version: {version}"), entry)
        if op is None:
            entry["errors"] = ["no such operation in the document"]
            return self.answer(None, 404, error_body("NotFound", "Not Found"), entry)
        errs = self.server.api.check_request(op, query, body)
        if errs:
            entry["errors"] = errs
            return self.answer(op, 400, error_body("InvalidRequest", "; ".join(errs)), entry)
        entry["valid"] = True
        fn = getattr(self, "op_" + op["operationId"], None)
        if fn is None:
            return self.answer(op, 501, error_body("NotImplemented", "not in the double"),
                               entry)
        fn(op, query, body, entry)

    do_GET = do_PUT = do_POST = do_DELETE = handle_any

    # ---- operations ----

    def no_instance(self, op, entry):
        return self.answer(op, 424, error_body("NoInstance", "Server not initialized (no instance)"), entry)

    def op_instance_get(self, op, query, body, entry):
        inst = self.server.inst
        if inst.props is None:
            return self.no_instance(op, entry)
        self.answer(op, 200, {"instance": {"properties": inst.props, "state": inst.state}},
                    entry)

    def op_instance_ensure(self, op, query, body, entry):
        inst = self.server.inst
        if "ensure-500" in self.server.fail:
            return self.answer(op, 500, error_body("Internal", "bhyve: vm create failed"), entry)
        if inst.props is not None:
            if body["properties"] == inst.props:
                return self.answer(op, 201, {"migrate": None}, entry)
            return self.answer(op, 409, error_body(
                "AlreadyInitialized", "instance already initialized with another spec"), entry)
        inst.props = body["properties"]
        inst.spec = body["init"]["value"]["spec"]
        inst.set_state("Creating")
        self.answer(op, 201, {"migrate": None}, entry)

    def op_instance_state_put(self, op, query, body, entry):
        inst = self.server.inst
        if inst.props is None:
            return self.no_instance(op, entry)
        if body == "Run" and inst.state in ("Creating", "Stopped"):
            inst.run()
        elif body == "Run" and inst.state in ("Starting", "Running"):
            pass
        elif body == "Stop" and inst.state in ("Creating", "Starting", "Running", "Failed"):
            inst.stop()
        elif body == "Stop" and inst.state in ("Stopping", "Stopped", "Destroyed"):
            pass
        else:
            return self.answer(op, 400, error_body(
                "InvalidState", f"cannot {body} an instance that is {inst.state}"), entry)
        self.answer(op, 204, None, entry)

    def op_instance_state_monitor(self, op, query, body, entry):
        inst = self.server.inst
        if inst.props is None:
            return self.no_instance(op, entry)
        want = body["gen"]
        with inst.cond:
            while inst.gen < want and inst.state != "Destroyed":
                inst.cond.wait(1.0)
            gen, state = inst.gen, inst.state
        if state == "Destroyed" and gen < want:
            return self.answer(op, 410, error_body("Gone", "the instance is gone"), entry)
        self.answer(op, 200, {"gen": gen, "state": state,
                              "migration": {"migration_in": None, "migration_out": None}},
                    entry)

    def history(self, query):
        buf = bytes(self.server.inst.serial)
        if "from_start" in query:
            start = min(int(query["from_start"]), len(buf))
        else:
            start = max(0, len(buf) - int(query["most_recent"]))
        return buf, start

    def op_instance_serial_history_get(self, op, query, body, entry):
        if self.server.inst.props is None:
            return self.no_instance(op, entry)
        if ("from_start" in query) == ("most_recent" in query):
            entry["valid"] = False
            entry["errors"] = ["exactly one of from_start and most_recent"]
            return self.answer(op, 400, error_body(
                "InvalidRequest", "give exactly one of from_start and most_recent"), entry)
        buf, start = self.history(query)
        data = buf[start:]
        if "max_bytes" in query:
            data = data[:int(query["max_bytes"])]
        self.answer(op, 200, {"data": list(data), "last_byte_offset": start + len(data)},
                    entry)

    def op_instance_serial(self, op, query, body, entry):
        inst = self.server.inst
        if inst.props is None:
            return self.no_instance(op, entry)
        if "from_start" in query and "most_recent" in query:
            entry["valid"] = False
            entry["errors"] = ["from_start and most_recent together"]
            return self.answer(op, 400, error_body(
                "InvalidRequest", "from_start and most_recent are exclusive"), entry)
        conn = ServerConnection()
        head = f"{self.requestline}\r\n{self.headers}".rstrip("\r\n") + "\r\n\r\n"
        conn.receive_data(head.replace("\r\n", "\n").replace("\n", "\r\n").encode())
        reqs = conn.events_received()
        if not reqs:
            entry["valid"] = False
            entry["errors"] = ["not a WebSocket upgrade"]
            return self.answer(op, 400, error_body("InvalidRequest", "not a WebSocket"), entry)
        conn.send_response(conn.accept(reqs[0]))
        entry["status"] = 101
        self.record(entry)
        sock = self.connection
        lock = threading.Lock()

        def flush():
            with lock:
                for data in conn.data_to_send():
                    if data:
                        try:
                            sock.sendall(data)
                        except OSError:
                            pass

        def push(data):
            with lock:
                conn.send_binary(bytes(data))
            flush()

        flush()
        buf, start = self.history(query) if query else (b"", 0)
        with inst.cond:
            if buf[start:]:
                push(buf[start:])
            inst.readers.append(push)
        received = bytearray()
        try:
            sock.settimeout(0.5)
            while True:
                if inst.state == "Destroyed":
                    with lock:
                        conn.send_close(1000, "instance gone")
                    flush()
                    break
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                with lock:
                    conn.receive_data(data)
                    frames = conn.events_received()
                flush()
                for f in frames:
                    if f.opcode == Opcode.BINARY or f.opcode == Opcode.TEXT:
                        received += f.data
                        self.record({"method": "WS", "path": url_path(self.path),
                                     "received": f.data.decode(errors="replace"),
                                     "opcode": f.opcode.name, "valid": True})
                        # a terminal echoes what is typed
                        inst.output(bytes(f.data).replace(b"\n", b"\r\n"))
                    elif f.opcode == Opcode.CLOSE:
                        raise EOFError
        except (EOFError, OSError):
            pass
        finally:
            with inst.cond:
                if push in inst.readers:
                    inst.readers.remove(push)
            self.close_connection = True


def url_path(p):
    return urllib.parse.urlsplit(p).path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="IP:PORT")
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", action="append", default=[],
                    choices=["ensure-500", "never-running", "fail-run", "version"])
    ap.add_argument("--document", default=f"{HERE}/propolis-server-5.0.0.json")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.api = Api(load_document(a.document))
    srv.inst = Instance(set(a.fail))
    srv.fail = set(a.fail)
    srv.log_path = a.log
    srv.log_lock = threading.Lock()
    print(f"propolis double listening on {a.listen}", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
