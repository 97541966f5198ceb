"""A small HTTP origin for CloudFront tests: answers what each test sets, counts requests,
keeps the headers it was sent, and answers conditional requests with 304."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Origin:
    def __init__(self):
        self.routes = {}  # path -> dict(status, headers, body, delay)
        self.requests = []  # (method, path, headers)
        self.lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                origin.answer(self)

            def do_HEAD(self):
                origin.answer(self, head=True)

            def do_POST(self):
                origin.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set(self, path, body=b"", status=200, headers=None, delay=0):
        with self.lock:
            self.routes[path] = dict(status=status, headers=headers or {}, body=body, delay=delay)

    def count(self, path):
        with self.lock:
            return sum(1 for r in self.requests if r[1].split("?")[0] == path)

    def last(self, path):
        with self.lock:
            return [r for r in self.requests if r[1].split("?")[0] == path][-1]

    def answer(self, h, head=False):
        length = int(h.headers.get("Content-Length") or 0)
        body_in = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((h.command, h.path, dict(h.headers), body_in))
            route = self.routes.get(h.path.split("?")[0])
        if route is None:
            route = dict(status=404, headers={"Content-Type": "text/plain"}, body=b"not here", delay=0)
        if route["delay"]:
            time.sleep(route["delay"])
        etag = route["headers"].get("ETag")
        status, body = route["status"], route["body"]
        if etag and h.headers.get("If-None-Match") == etag and status == 200:
            status, body = 304, b""
        h.send_response(status)
        for k, v in route["headers"].items():
            h.send_header(k, v)
        if status != 304:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head and status != 304:
            h.wfile.write(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
