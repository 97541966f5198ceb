#!/usr/bin/env python3
"""S3 benchmark: Kumo against moto's server, side by side in one run.

For each server: PUT and GET of 1 KiB objects with wrk on presigned URLs at 8 and 64
connections (ops/s, p99); GET and PUT of 1 MiB objects with wrk (MiB/s); GET and PUT of
a 256 MiB object with curl (MiB/s); ListObjectsV2 over 10,000 keys (full listings/s);
and kumo's peak RSS over the whole run.

Usage: python3 bench/s3.py [--kumo .build/release/kumo] [--seconds 5] [--keys 10000]
Needs: wrk and curl (Debian), boto3 and moto[server] (PyPI).
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(__file__))
from edge import free_port, stop, wait_port  # noqa: E402

MIB = 1024 * 1024


def client(port):
    return boto3.client(
        "s3", endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(signature_version="s3v4", max_pool_connections=32, retries={"max_attempts": 1}))


def wrk(url, seconds, connections, method="GET", body_file=None):
    lua = "wrk.method = '%s'\n" % method
    if body_file:
        lua += "local f = io.open('%s', 'rb')\nwrk.body = f:read('*a')\nf:close()\n" % body_file
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency", "-s", f.name, url],
                         capture_output=True, text=True, timeout=seconds + 120).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return rps, p99ms, errors


def curl_mib_s(args, size):
    start = time.monotonic()
    subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", *args], check=True, timeout=600)
    return size / MIB / (time.monotonic() - start)


def measure(name, port, seconds, keys, scratch):
    s3 = client(port)
    s3.create_bucket(Bucket="bench")
    presign = lambda op, key: s3.generate_presigned_url(op, Params={"Bucket": "bench", "Key": key}, ExpiresIn=3600)
    small = os.path.join(scratch, "small")
    with open(small, "wb") as f:
        f.write(os.urandom(1024))
    mid = os.path.join(scratch, "mid")
    with open(mid, "wb") as f:
        f.write(os.urandom(MIB))
    big = os.path.join(scratch, "big")
    if not os.path.exists(big):
        with open(big, "wb") as f:
            for _ in range(256):
                f.write(os.urandom(MIB))
    r = {"name": name}
    s3.put_object(Bucket="bench", Key="small", Body=open(small, "rb").read())
    s3.put_object(Bucket="bench", Key="mid", Body=open(mid, "rb").read())
    for c in (8, 64):
        r["get1k_c%d" % c] = wrk(presign("get_object", "small"), seconds, c)
        r["put1k_c%d" % c] = wrk(presign("put_object", "small-put"), seconds, c, "PUT", small)
    rps, _, _ = wrk(presign("get_object", "mid"), seconds, 8)
    r["get1m_mib_s"] = rps
    rps, _, _ = wrk(presign("put_object", "mid-put"), seconds, 8, "PUT", mid)
    r["put1m_mib_s"] = rps
    r["put256m_mib_s"] = curl_mib_s(["-T", big, presign("put_object", "big")], 256 * MIB)
    r["get256m_mib_s"] = curl_mib_s([presign("get_object", "big")], 256 * MIB)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="bench", Key="list/%06d" % i, Body=b"x"), range(keys)))
    start = time.monotonic()
    rounds = 0
    while rounds < 3 or time.monotonic() - start < 2:
        n = sum(len(p.get("Contents", [])) for p in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="list/"))
        assert n == keys, n
        rounds += 1
    r["list_per_s"] = rounds / (time.monotonic() - start)
    return r


def peak_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


def run(name, cmd, port, args, scratch, env=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, proc)
        r = measure(name, port, args.seconds, args.keys, scratch)
        r["peak_rss_mib"] = peak_rss_mib(proc.pid)
        return r
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--keys", type=int, default=10000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as data:
        port = free_port()
        k = run("kumo", [args.kumo, "up", "--port", str(port), "--data-dir", data, "--log-level", "warning"], port, args, scratch)
        port = free_port()
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        m = run("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(port)], port, args, scratch, env=env)
    rows = [
        ("GET 1 KiB, 8 conn (ops/s)", "get1k_c8"), ("GET 1 KiB, 64 conn (ops/s)", "get1k_c64"),
        ("PUT 1 KiB, 8 conn (ops/s)", "put1k_c8"), ("PUT 1 KiB, 64 conn (ops/s)", "put1k_c64"),
    ]
    print("%-34s %14s %14s %8s" % ("", "kumo", "moto", "ratio"))
    for label, key in rows:
        print("%-34s %8.0f p99 %5.1fms %8.0f p99 %5.0fms %7.1fx" % (
            label, k[key][0], k[key][1], m[key][0], m[key][1], k[key][0] / m[key][0]))
        if k[key][2] or m[key][2]:
            print("   non-2xx answers: kumo %d, moto %d" % (k[key][2], m[key][2]))
    for label, key in [("GET 1 MiB, 8 conn (MiB/s)", "get1m_mib_s"), ("PUT 1 MiB, 8 conn (MiB/s)", "put1m_mib_s"),
                       ("PUT 256 MiB (MiB/s)", "put256m_mib_s"), ("GET 256 MiB (MiB/s)", "get256m_mib_s"),
                       ("ListObjectsV2 10k keys (lists/s)", "list_per_s"), ("peak RSS (MiB)", "peak_rss_mib")]:
        print("%-34s %14.1f %14.1f %7.1fx" % (label, k[key], m[key], k[key] / m[key] if m[key] else 0))


if __name__ == "__main__":
    main()
