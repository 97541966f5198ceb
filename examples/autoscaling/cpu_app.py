"""A deliberately CPU-heavy web app: every request spends about 20 ms of CPU computing hashes,
so load on the load balancer shows up as CPU on the instances (CloudWatch CPUUtilization)."""
import hashlib
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTANCE = os.environ.get("KUMO_INSTANCE_ID", "local")


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        digest = b"kumo"
        if self.path != "/health":
            for _ in range(20000):
                digest = hashlib.sha256(digest).digest()
        body = ("%s %s\n" % (INSTANCE, digest.hex()[:8])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer((os.environ.get("KUMO_BIND_ADDRESS", "127.0.0.1"), 8080), App).serve_forever()
