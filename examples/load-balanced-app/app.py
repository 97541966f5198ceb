"""The web app each instance runs: a page and a small JSON API, both saying which instance answered.
Kumo gives every instance its own loopback address in KUMO_BIND_ADDRESS."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTANCE = os.environ.get("KUMO_INSTANCE_ID", "local")
ZONE = os.environ.get("KUMO_AVAILABILITY_ZONE", "?")


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body, kind = b"ok", "text/plain"
        elif self.path.startswith("/api/"):
            body, kind = json.dumps({"instance": INSTANCE, "zone": ZONE, "path": self.path}).encode(), "application/json"
        else:
            body, kind = ("<h1>Hello from %s (%s)</h1>\n" % (INSTANCE, ZONE)).encode(), "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer((os.environ.get("KUMO_BIND_ADDRESS", "127.0.0.1"), 8080), App).serve_forever()
