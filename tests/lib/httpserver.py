# SPDX-License-Identifier: MIT
"""A small HTTP/1.1-speaking file server for the image tests and the
benchmark (Python standard library only).

It serves the files below a directory, supports Range requests (with
If-Range, ETag and Last-Modified) and misbehaves on request. Behaviour is
chosen per URL by query parameters, so one server covers every case:

  range=0        ignore Range headers (answer 200 with the whole file)
  status=N       answer with status N and a small HTML body
  redirect=N     answer 302 to the same URL with redirect=N-1 (a chain of N)
  location=URL   answer 302 to URL (any scheme)
  loop=1         answer 302 to the very URL asked (a redirect loop)
  ctype=T        serve the file with Content-Type T (empty: no Content-Type;
                 default application/octet-stream)
  truncate=N     announce the full Content-Length, close after byte N
  stall=N        send up to byte N, then send nothing for stall_s seconds
  stall_s=S      (default 60)
  rate=B         send at most B bytes per second
  times=K        apply status/truncate/stall/rate only to the first K
                 requests of this URL (default: all of them)
  noetag=1       send neither ETag nor Last-Modified
  nolength=1     send no Content-Length (close-delimited body)

Byte offsets (truncate, stall) are offsets in the file, so a resumed request
that starts before N stops at N again.

GET /_stats returns JSON {"<path?query>": {"count": n, "ranges": [...]}}
for every file URL requested; GET /_reset clears it.

Run standalone: httpserver.py --dir DIR [--port 0]; prints the port on
stdout once it listens.
"""
import argparse
import email.utils
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 256 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: simple and enough
    server_version = "vmctl-test-httpd"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _stats(self):
        return self.server.stats

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_stats":
            with self.server.lock:
                body = json.dumps(self.server.stats).encode()
            return self._simple(200, body, "application/json")
        if url.path == "/_reset":
            with self.server.lock:
                self.server.stats.clear()
            return self._simple(200, b"{}", "application/json")

        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        key = self.path
        rng = self.headers.get("Range")
        with self.server.lock:
            st = self.server.stats.setdefault(key, {"count": 0, "ranges": []})
            st["count"] += 1
            st["ranges"].append(rng)
            n = st["count"]
        faulty = n <= int(q.get("times", "1000000000"))

        if "redirect" in q and int(q["redirect"]) > 0:
            q2 = dict(q)
            q2["redirect"] = str(int(q["redirect"]) - 1)
            if q2["redirect"] == "0":
                del q2["redirect"]
            loc = url.path + ("?" + urllib.parse.urlencode(q2) if q2 else "")
            self.send_response(302)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "location" in q or q.get("loop") == "1":
            self.send_response(302)
            self.send_header("Location", q.get("location", self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if faulty and "status" in q:
            return self._simple(int(q["status"]),
                                b"<html><body>error page</body></html>\n", "text/html")

        rel = urllib.parse.unquote(url.path).lstrip("/")
        path = os.path.realpath(os.path.join(self.server.root, rel))
        if not path.startswith(self.server.root + os.sep) or not os.path.isfile(path):
            return self._simple(404, b"<html><body>not found</body></html>\n", "text/html")

        st_ = os.stat(path)
        size = st_.st_size
        etag = '"%x-%x"' % (st_.st_size, st_.st_mtime_ns)
        lastmod = email.utils.formatdate(st_.st_mtime, usegmt=True)
        start = 0
        partial = False
        if rng and q.get("range") != "0":
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range in (etag, lastmod):
                try:
                    unit, spec = rng.split("=", 1)
                    a, b = spec.split("-", 1)
                    if unit.strip() == "bytes" and a and not b:
                        start = int(a)
                        partial = True
                except ValueError:
                    pass
        if partial and start >= size:
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % size)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return

        self.send_response(206 if partial else 200)
        if q.get("nolength") != "1":
            self.send_header("Content-Length", str(size - start))
        if partial:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        if q.get("range") != "0":
            self.send_header("Accept-Ranges", "bytes")
        if q.get("noetag") != "1":
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", lastmod)
        ctype = q.get("ctype", "application/octet-stream")
        if ctype:
            self.send_header("Content-Type", ctype)
        self.end_headers()
        if head:
            return

        stop = size
        stall = None
        if faulty and "truncate" in q:
            stop = min(stop, int(q["truncate"]))
        if faulty and "stall" in q:
            stall = int(q["stall"])
            stop = min(stop, stall)
        rate = int(q["rate"]) if faulty and "rate" in q else 0
        try:
            with open(path, "rb") as f:
                self._send_range(f, start, stop, rate)
            if stall is not None and stop < size:
                self.wfile.flush()
                time.sleep(float(q.get("stall_s", "60")))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _send_range(self, f, start, stop, rate):
        self.wfile.flush()
        if start >= stop:
            return
        if not rate:
            # the fast path (the benchmark): the kernel copies the file
            self.connection.sendfile(f, offset=start, count=stop - start)
            return
        f.seek(start)
        pos = start
        t0 = time.monotonic()
        sent = 0
        step = max(1, min(CHUNK, rate // 20))
        while pos < stop:
            data = f.read(min(step, stop - pos))
            if not data:
                break
            self.wfile.write(data)
            self.wfile.flush()
            pos += len(data)
            sent += len(data)
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def _simple(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root, port=0, bind="127.0.0.1"):
        super().__init__((bind, port), Handler)
        self.root = os.path.realpath(root)
        self.stats = {}
        self.lock = threading.Lock()
        self.thread = None

    @property
    def port(self):
        return self.server_address[1]

    def url(self, rel):
        return "http://127.0.0.1:%d/%s" % (self.port, rel.lstrip("/"))

    def count(self, rel):
        """Requests made for a URL (path?query, as passed to url())."""
        with self.lock:
            return self.stats.get("/" + rel.lstrip("/"), {}).get("count", 0)

    def ranges(self, rel):
        with self.lock:
            return list(self.stats.get("/" + rel.lstrip("/"), {}).get("ranges", []))

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    a = ap.parse_args()
    srv = Server(a.dir, a.port, a.bind)
    print(srv.port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
