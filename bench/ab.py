#!/usr/bin/env python3
"""Paired A/B of kumo builds on small S3 requests: which build is faster, on a machine whose speed drifts.

Every build runs at the same time (each idle but for its turn), and short wrk loops of presigned 1 KiB
PUTs (or GETs) to one key are taken in turn, round after round, the order reversed every other round.
Each round gives each build's rate against the first build's in that round; the median of those ratios
is the answer, with their spread. Comparing whole runs taken minutes apart does not work here: the
machine's speed moves by ±20% within minutes, more than most changes are worth.

Usage: python3 bench/ab.py BASELINE_KUMO OTHER_KUMO... [--method PUT|GET] [--connections 8]
       [--rounds 10] [--seconds 2]
Needs: wrk (Debian), boto3 (PyPI).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from edge import free_port, stop, wait_port  # noqa: E402
from s3 import client, wrk  # noqa: E402


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builds", nargs="+", help="kumo binaries; the first is the baseline")
    ap.add_argument("--method", choices=["PUT", "GET"], default="PUT")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kumo-ab-")
    body = os.path.join(work, "body")
    with open(body, "wb") as f:
        f.write(os.urandom(1024))
    servers, urls = [], []
    try:
        for i, build in enumerate(args.builds):
            port = free_port()
            proc = subprocess.Popen([build, "up", "--port", str(port), "--dns-port", "0", "--log-level", "warning",
                                     "--data-dir", os.path.join(work, "data%d" % i)], stdout=subprocess.DEVNULL)
            servers.append(proc)
            wait_port(port, proc)
            s3 = client(port)
            s3.create_bucket(Bucket="ab-bench")
            s3.put_object(Bucket="ab-bench", Key="k", Body=os.urandom(1024))
            operation = "put_object" if args.method == "PUT" else "get_object"
            url = s3.generate_presigned_url(operation, Params={"Bucket": "ab", "Key": "k"}, ExpiresIn=3600)
            urls.append(url)
            wrk(url, 1, args.connections, args.method, body if args.method == "PUT" else None)  # warm-up
        rates = [[] for _ in servers]
        cpu = [[] for _ in servers]
        for r in range(args.rounds):
            order = range(len(servers)) if r % 2 == 0 else reversed(range(len(servers)))
            for i in order:
                before = cpu_ticks(servers[i].pid)
                ops = wrk(urls[i], args.seconds, args.connections, args.method, body if args.method == "PUT" else None)[0]
                used = cpu_ticks(servers[i].pid) - before
                rates[i].append(ops)
                cpu[i].append(used * 1e6 / os.sysconf("SC_CLK_TCK") / max(ops * args.seconds, 1))
        print("%s 1 KiB, %d connections, %d rounds of %d s" % (args.method, args.connections, args.rounds, args.seconds))
        for i, build in enumerate(args.builds):
            ratios = [a / b for a, b in zip(rates[i], rates[0])]
            print("%-40s %8.0f ops/s  %6.1f us CPU/op  ratio %.3f (%.3f-%.3f)" % (
                build[-40:], statistics.median(rates[i]), statistics.median(cpu[i]), statistics.median(ratios),
                min(ratios), max(ratios)))
    finally:
        for proc in servers:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
