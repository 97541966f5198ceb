#!/usr/bin/env python3
"""CloudFront benchmark: Kumo's edge cache against Varnish and nginx proxy_cache, side by
side in one run, all three in front of the same origin (an nginx serving fixed files).

Measures, for each cache: hit-path requests/s and p99 with wrk at 64 connections for a
1 KiB and a 100 KiB object; the 1 KiB hit's p99 under a paced load (8 connections, each waiting
1 ms after every answer: the cores are not saturated, so the latency is the cache's rather than
time spent waiting for a core, which the load client, cache and origin share); and miss-path
latency (median, p99) of sequential requests for paths never seen before over one keep-alive
connection.

Usage: python3 bench/cloudfront.py [--kumo .build/release/kumo] [--seconds 5] [--misses 400]
Needs: wrk, nginx-light and varnish (Debian), boto3 (PyPI).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import boto3

sys.path.insert(0, os.path.dirname(__file__))
from edge import free_port, stop, wait_port  # noqa: E402

ORIGIN_CONF = """
daemon off; worker_processes 1; pid %(dir)s/origin.pid; error_log %(dir)s/origin.err;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; keepalive_requests 1000000;
  server {
    listen 127.0.0.1:%(port)d;
    root %(dir)s/www;
    location / { add_header Cache-Control "max-age=3600"; }
    location /miss/ { add_header Cache-Control "max-age=3600"; default_type text/plain; return 200 "fresh"; }
  }
}
"""

PROXY_CACHE_CONF = """
daemon off; worker_processes 2; pid %(dir)s/cache.pid; error_log %(dir)s/cache.err;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000;
  proxy_cache_path %(dir)s/cache keys_zone=edge:16m max_size=256m;
  upstream origin { server 127.0.0.1:%(origin)d; keepalive 32; }
  server {
    listen 127.0.0.1:%(port)d;
    location / {
      proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache edge; proxy_cache_lock on;
    }
  }
}
"""


PACED = """
function delay() return 1 end
"""


def wrk(url, host, seconds, connections=64, script=None):
    threads = 2 if connections >= 2 * 8 else 1
    extra = ["-s", script] if script else []
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency", "-H", "Host: " + host] + extra + [url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99ms, int(bad.group(1)) if bad else 0


def misses(port, host, count, tag):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for i in range(count):
        start = time.perf_counter()
        conn.request("GET", "/miss/%s-%d" % (tag, i), headers={"Host": host})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, (tag, r.status, r.read())
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--misses", type=int, default=400)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kumo-bench-cf-")
    procs = []
    try:
        os.chmod(work, 0o755)  # nginx workers run as nobody when started by root
        os.makedirs(work + "/www")
        with open(work + "/www/1k.bin", "wb") as f:
            f.write(os.urandom(1024))
        with open(work + "/www/100k.bin", "wb") as f:
            f.write(os.urandom(100 * 1024))
        origin = free_port()
        with open(work + "/origin.conf", "w") as f:
            f.write(ORIGIN_CONF % {"dir": work, "port": origin})
        procs.append(subprocess.Popen(["nginx", "-c", work + "/origin.conf", "-p", work]))
        wait_port(origin, procs[-1])

        caches = []
        kumo_port = free_port()
        kumo = subprocess.Popen([args.kumo, "up", "--port", str(kumo_port), "--dns-port", "0", "--ephemeral", "--log-level", "warning"],
                                stdout=subprocess.DEVNULL)
        procs.append(kumo)
        wait_port(kumo_port, kumo)
        cf = boto3.client("cloudfront", endpoint_url="http://127.0.0.1:%d" % kumo_port, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        d = cf.create_distribution(DistributionConfig={
            "CallerReference": "bench", "Comment": "", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "127.0.0.1", "CustomOriginConfig": {
                "HTTPPort": origin, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all",
                                     "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})["Distribution"]
        caches.append(("kumo", kumo_port, d["DomainName"]))

        varnish_port = free_port()
        procs.append(subprocess.Popen(["varnishd", "-F", "-a", "127.0.0.1:%d" % varnish_port, "-b", "127.0.0.1:%d" % origin,
                                       "-s", "malloc,256m", "-n", work + "/varnish"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(varnish_port, procs[-1])
        caches.append(("varnish", varnish_port, "localhost"))

        nginx_port = free_port()
        with open(work + "/cache.conf", "w") as f:
            f.write(PROXY_CACHE_CONF % {"dir": work, "port": nginx_port, "origin": origin})
        procs.append(subprocess.Popen(["nginx", "-c", work + "/cache.conf", "-p", work]))
        wait_port(nginx_port, procs[-1])
        caches.append(("nginx proxy_cache", nginx_port, "localhost"))

        paced = work + "/paced.lua"
        with open(paced, "w") as f:
            f.write(PACED)
        results = {}
        for name, port, host in caches:
            row = {}
            for obj in ["1k.bin", "100k.bin"]:
                url = "http://127.0.0.1:%d/%s" % (port, obj)
                subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Host: " + host, url], check=True)  # fill
                row[obj] = wrk(url, host, args.seconds)
            row["light"] = wrk("http://127.0.0.1:%d/1k.bin" % port, host, args.seconds, connections=8, script=paced)
            row["miss"] = misses(port, host, args.misses, name.split()[0])
            results[name] = row
        base = results["varnish"]
        print("| cache | hit 1 KiB req/s (p99) | hit 100 KiB req/s (p99) | hit 1 KiB p99, paced (8 connections, 1 ms apart) | miss median / p99 |")
        print("|---|---|---|---|---|")
        for name, row in results.items():
            cells = []
            for obj in ["1k.bin", "100k.bin"]:
                rps, p99, bad = row[obj]
                cells.append("%s (%.2f ms)%s, %.0f%% of Varnish" % (f"{rps:,.0f}", p99, " %d non-2xx" % bad if bad else "",
                                                                     100 * rps / base[obj][0]))
            cells.append("%.2f ms (%s req/s)" % (row["light"][1], f"{row['light'][0]:,.0f}"))
            cells.append("%.2f / %.2f ms" % row["miss"])
            print("| %s | %s |" % (name, " | ".join(cells)))
        print(json.dumps({k: {o: v for o, v in r.items()} for k, r in results.items()}))
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
