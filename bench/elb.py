#!/usr/bin/env python3
"""Load balancer benchmark: Kumo's application load balancer against HAProxy and nginx,
side by side in one run, each balancing the same two nginx targets (a 100-byte reply).

Measures, for each balancer: requests/s and p99 with wrk at 64 connections through the
balancer (the median of three rounds), and the same straight to one target; the p99 of a paced load (8 connections, each
waiting 1 ms after every answer: about 6,000 requests/s, which leaves the cores room) through each
balancer and straight to a target, the median of three rounds, whose difference is the latency the
balancer adds; then a run in
which one target is killed after 3 s, counting failed requests before and after the balancer's
health checks take it out. (At full load the p99 is mostly time spent waiting for a core: the
load client, the balancer and the targets share two.)

Usage: python3 bench/elb.py [--kumo .build/release/kumo] [--seconds 5]
Needs: wrk, nginx-light and haproxy (Debian), boto3 (PyPI).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3

sys.path.insert(0, os.path.dirname(__file__))
from edge import free_port, stop, wait_port  # noqa: E402

TARGET_CONF = """
daemon off; worker_processes 1; pid %(dir)s/t%(port)d.pid; error_log %(dir)s/t%(port)d.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:%(port)d; location / { default_type text/plain; return 200 "%(body)s"; } } }
"""
HAPROXY_CONF = """
global
  maxconn 8000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend web
  bind 127.0.0.1:%(port)d
  default_backend targets
backend targets
  balance roundrobin
  option httpchk GET /
  server a 127.0.0.1:%(a)d check inter 500 fall 2 rise 2
  server b 127.0.0.1:%(b)d check inter 500 fall 2 rise 2
"""
NGINX_LB_CONF = """
daemon off; worker_processes 2; pid %(dir)s/lb.pid; error_log %(dir)s/lb.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream targets { server 127.0.0.1:%(a)d max_fails=1 fail_timeout=5s; server 127.0.0.1:%(b)d max_fails=1 fail_timeout=5s; keepalive 64; }
  server { listen 127.0.0.1:%(port)d; location / { proxy_pass http://targets; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
"""


PACED = """
function delay() return 1 end
"""


def wrk(url, seconds, host=None, connections=64, script=None):
    threads = 2 if connections >= 16 else 1
    args = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    if host:
        args[1:1] = ["-H", "Host: " + host]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(int(x) for x in errors.groups()) if errors else 0)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, p99ms, failed, total


def start_target(work, port, body):
    with open("%s/t%d.conf" % (work, port), "w") as f:
        f.write(TARGET_CONF % {"dir": work, "port": port, "body": body})
    p = subprocess.Popen(["nginx", "-c", "%s/t%d.conf" % (work, port), "-p", work])
    wait_port(port, p)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kumo-bench-elb-")
    os.chmod(work, 0o755)
    procs = []
    try:
        a, b = free_port(), free_port()
        targets = {a: start_target(work, a, "x" * 100), b: start_target(work, b, "y" * 100)}
        procs += targets.values()

        kumo_port = free_port()
        kumo = subprocess.Popen([args.kumo, "up", "--port", str(kumo_port), "--dns-port", "0", "--ephemeral", "--listener-ports", "mapped",
                                 "--time-scale", "0.1", "--log-level", "warning"], stdout=subprocess.DEVNULL)
        procs.append(kumo)
        wait_port(kumo_port, kumo)
        kw = dict(endpoint_url="http://127.0.0.1:%d" % kumo_port, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        ec2, elb = boto3.client("ec2", **kw), boto3.client("elbv2", **kw)
        subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
        lb = elb.create_load_balancer(Name="bench", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
        tg = elb.create_target_group(Name="bench", Protocol="HTTP", Port=a, VpcId=subnets[0]["VpcId"], TargetType="ip",
                                     HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                     UnhealthyThresholdCount=2)["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "127.0.0.1", "Port": a}, {"Id": "127.0.0.1", "Port": b}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        deadline = time.time() + 30
        kumo_lb = None
        while time.time() < deadline:
            health = json.load(urllib.request.urlopen("http://127.0.0.1:%d/_kumo/health" % kumo_port))
            ports = [l["address"] for l in health["listeners"] if l["name"] == "elb bench:80"]
            states = [t["TargetHealth"]["State"] for t in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]]
            if ports and states == ["healthy", "healthy"]:
                kumo_lb = int(ports[0].rsplit(":", 1)[1])
                break
            time.sleep(0.1)
        assert kumo_lb, "Kumo's listener or targets did not come up"

        haproxy_port, nginx_port = free_port(), free_port()
        with open(work + "/haproxy.cfg", "w") as f:
            f.write(HAPROXY_CONF % {"port": haproxy_port, "a": a, "b": b})
        procs.append(subprocess.Popen(["haproxy", "-f", work + "/haproxy.cfg", "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(haproxy_port, procs[-1])
        with open(work + "/lb.conf", "w") as f:
            f.write(NGINX_LB_CONF % {"dir": work, "port": nginx_port, "a": a, "b": b})
        procs.append(subprocess.Popen(["nginx", "-c", work + "/lb.conf", "-p", work]))
        wait_port(nginx_port, procs[-1])

        direct = wrk("http://127.0.0.1:%d/" % a, args.seconds)
        balancers = [("kumo (listener port)", kumo_lb, None), ("kumo (edge, Host)", kumo_port, lb["DNSName"]),
                     ("haproxy", haproxy_port, None), ("nginx", nginx_port, None)]
        # Three rounds over every balancer in turn; each one's median round (by requests/s) is reported.
        full = {name: [] for name, _, _ in balancers}
        for _ in range(3):
            for name, port, host in balancers:
                full[name].append(wrk("http://127.0.0.1:%d/" % port, args.seconds, host))
        rows = {name: sorted(runs, key=lambda r: r[0])[1] for name, runs in full.items()}
        base = rows["haproxy"]
        print("direct to one target: %s req/s, p99 %.2f ms" % (f"{direct[0]:,.0f}", direct[1]))
        print("| balancer (64 connections; median of 3) | req/s (3 runs) | p99 | failed | vs HAProxy |")
        print("|---|---|---|---|---|")
        for name, (rps, p99, failed, total) in rows.items():
            runs = " / ".join("%.1fk" % (r[0] / 1000) for r in full[name])
            print("| %s | %s (%s) | %.2f ms | %d | %.0f%% |" % (name, f"{rps:,.0f}", runs, p99, failed, 100 * rps / base[0]))

        # Added latency: p99 of a paced load, through each balancer and straight to a target.
        paced = work + "/paced.lua"
        with open(paced, "w") as f:
            f.write(PACED)
        # Three rounds, each over the target and every balancer in turn; the median of each one's
        # three p99s is reported (a moment of noise on the shared cores then moves one round, not the result).
        rounds = {name: [] for name in ["direct"] + [b[0] for b in balancers]}
        for _ in range(3):
            rounds["direct"].append(wrk("http://127.0.0.1:%d/" % a, args.seconds, connections=8, script=paced))
            for name, port, host in balancers:
                rounds[name].append(wrk("http://127.0.0.1:%d/" % port, args.seconds, host, connections=8, script=paced))
        median = lambda runs: sorted(runs, key=lambda r: r[1])[1]
        light_direct = median(rounds["direct"])
        print("| balancer, paced (8 connections, 1 ms apart; median of 3) | req/s | p99 (3 runs) | added to the target's p99 (%.2f ms) |"
              % light_direct[1])
        print("|---|---|---|---|")
        for name, _, _ in balancers:
            light = median(rounds[name])
            runs = " / ".join("%.2f" % r[1] for r in rounds[name])
            print("| %s | %s | %.2f ms (%s) | %.2f ms |" % (name, f"{light[0]:,.0f}", light[1], runs, light[1] - light_direct[1]))

        # One target dies under load: failed requests while the balancers notice, and after.
        results = {}
        for name, port, host in [("kumo (listener port)", kumo_lb, None), ("haproxy", haproxy_port, None)]:
            victim = targets[b]
            out = {}
            runner = threading.Thread(target=lambda: out.update(first=wrk("http://127.0.0.1:%d/" % port, 8, host)))
            runner.start()
            time.sleep(3)
            victim.terminate()
            victim.wait()
            runner.join()
            time.sleep(1.5)
            after = wrk("http://127.0.0.1:%d/" % port, 3, host)
            results[name] = (out["first"][2], out["first"][3], after[2], after[3])
            targets[b] = start_target(work, b, "y" * 100)
            procs.append(targets[b])
            time.sleep(3)
        print("| balancer | failed while a target died (of total) | failed after the health checks (of total) |")
        print("|---|---|---|")
        for name, (f1, t1, f2, t2) in results.items():
            print("| %s | %d of %d | %d of %d |" % (name, f1, t1, f2, t2))
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
