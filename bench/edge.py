#!/usr/bin/env python3
"""Edge benchmark: Kumo against moto's server, side by side in one run.

Measures, for each server: time from process start to the port answering, idle RSS,
and signed STS GetCallerIdentity requests/s and latency with wrk at 64 connections
(the same signed request replayed: valid for the 15 minutes of allowed clock skew).

Usage: python3 bench/edge.py [--kumo .build/release/kumo] [--seconds 10]
Needs: wrk (Debian `wrk`), moto[server] (PyPI).
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "e2e"))
from sigv4 import sign  # noqa: E402

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, limit=30):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
            return
        except OSError:
            time.sleep(0.001)
    raise RuntimeError("server did not answer")


def stop(proc):
    """SIGTERM, then SIGKILL if the server has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def wrk(port, seconds, connections):
    url = "http://127.0.0.1:%d/" % port
    headers = sign("POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, BODY, "sts")
    lua = "wrk.method = 'POST'\nwrk.body = '%s'\n" % BODY.decode()
    for k, v in headers.items():
        lua += "wrk.headers['%s'] = '%s'\n" % (k, v)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(["wrk", "-t%d" % min(2, connections), "-c%d" % connections, "-d%ds" % seconds, "--latency", "-s", f.name, url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99ms, int(non2xx.group(1)) if non2xx else 0


def run(name, cmd, port, seconds, connections, env=None):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, proc)
        ready_ms = (time.monotonic() - start) * 1000
        # One request so lazily loaded parts are in, then idle memory.
        wrk(port, 1, 1)
        time.sleep(0.5)
        idle = rss_mib(proc.pid)
        rps, p99, errors = wrk(port, seconds, connections)
        return {"name": name, "ready_ms": ready_ms, "idle_rss_mib": idle, "rps": rps, "p99_ms": p99, "errors": errors}
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        results.append(run("kumo", [args.kumo, "up", "--port", str(port), "--data-dir", d, "--log-level", "warning"],
                           port, args.seconds, args.connections))
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    results.append(run("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(port)], port, args.seconds,
                       args.connections, env=env))
    print("%-6s %10s %14s %12s %10s %8s" % ("server", "ready ms", "idle RSS MiB", "req/s", "p99 ms", "errors"))
    for r in results:
        print("%-6s %10.1f %14.1f %12.0f %10.2f %8d" % (r["name"], r["ready_ms"], r["idle_rss_mib"], r["rps"], r["p99_ms"], r["errors"]))
    k, m = results
    print("kumo/moto: %.1fx requests/s, %.1fx faster ready, %.1fx less idle memory" % (
        k["rps"] / m["rps"], m["ready_ms"] / k["ready_ms"], m["idle_rss_mib"] / k["idle_rss_mib"]))


if __name__ == "__main__":
    main()
