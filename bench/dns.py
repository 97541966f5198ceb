#!/usr/bin/env python3
"""DNS benchmark: Kumo's DNS server against NSD serving the same zone, side by side in one run.

Both serve a zone of 1,000 A records; dnsperf asks for random names from it for a fixed time:
first at saturation (queries/s), then at half that rate for latency: dnsperf's average and standard
deviation, and the median and p99 computed from its per-query report (`-v`).

Usage: python3 bench/dns.py [--kumo .build/release/kumo] [--seconds 5]
Needs: dnsperf and nsd (Debian), boto3 (PyPI).
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import boto3

sys.path.insert(0, os.path.dirname(__file__))
from edge import free_port, stop, wait_port  # noqa: E402

RECORDS = 1000


PIN = {"server": [], "client": []}


def dnsperf(port, queries, seconds, rate=None):
    """Queries/s, average and sd (ms), lost queries, and (with a rate) the median and p99 latency (ms)."""
    args = PIN["client"] + ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, "-l", str(seconds), "-c", "4", "-Q", str(rate or 1_000_000)]
    if rate:
        args.append("-v")
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    avg = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1000
    sd = re.search(r"Latency StdDev \(s\):\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    # Verbose lines: "> NOERROR h1.bench.test A 0.000123" (the last field is the latency in seconds).
    latencies = sorted(float(l.split()[-1]) * 1000 for l in out.splitlines() if l.startswith(">") and re.match(r"^[\d.]+$", l.split()[-1]))
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    return qps, avg, float(sd.group(1)) * 1000 if sd else 0.0, int(lost.group(1)) if lost else 0, p50, p99


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--pin", action="store_true", help="servers on CPU 0, dnsperf on CPU 1 (taskset), so they do not compete")
    args = ap.parse_args()
    if args.pin:
        PIN["server"], PIN["client"] = ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    with tempfile.TemporaryDirectory() as d:
        queries = os.path.join(d, "queries")
        with open(queries, "w") as f:
            for _ in range(10000):
                f.write("h%d.bench.test A\n" % random.randrange(RECORDS))
        # NSD with the same zone.
        zone = os.path.join(d, "bench.test.zone")
        with open(zone, "w") as f:
            f.write("$ORIGIN bench.test.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 60\n@ IN NS ns1\nns1 IN A 127.0.0.1\n")
            for i in range(RECORDS):
                f.write("h%d IN A 10.0.%d.%d\n" % (i, i // 256, i % 256))
        nsd_port = free_port()
        conf = os.path.join(d, "nsd.conf")
        with open(conf, "w") as f:
            f.write('server:\n  ip-address: 127.0.0.1@%d\n  username: ""\n  zonesdir: "%s"\n  pidfile: "%s/nsd.pid"\n'
                    '  xfrdfile: "%s/xfrd.state"\n  zonelistfile: "%s/zone.list"\n  database: ""\n  server-count: 1\n  verbosity: 0\n'
                    'remote-control:\n  control-enable: no\nzone:\n  name: bench.test\n  zonefile: bench.test.zone\n' % (nsd_port, d, d, d, d))
        nsd = subprocess.Popen(PIN["server"] + ["nsd", "-d", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kumo with the zone made through the Route 53 API.
        edge, dns = free_port(), free_port()
        kumo = subprocess.Popen(PIN["server"] + [args.kumo, "up", "--port", str(edge), "--dns-port", str(dns), "--data-dir", os.path.join(d, "kumo"),
                                 "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(edge, kumo)
            r53 = boto3.client("route53", endpoint_url="http://127.0.0.1:%d" % edge, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")
            zid = r53.create_hosted_zone(Name="bench.test", CallerReference="b")["HostedZone"]["Id"]
            changes = [{"Action": "CREATE", "ResourceRecordSet": {"Name": "h%d.bench.test" % i, "Type": "A", "TTL": 60,
                        "ResourceRecords": [{"Value": "10.0.%d.%d" % (i // 256, i % 256)}]}} for i in range(RECORDS)]
            r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})
            time.sleep(0.5)
            results = {}
            for name, port in (("kumo", dns), ("nsd", nsd_port)):
                qps = dnsperf(port, queries, args.seconds)
                half = dnsperf(port, queries, args.seconds, rate=int(qps[0] / 2))
                results[name] = (qps, half)
        finally:
            for p in (kumo, nsd):
                stop(p)
    print("%-6s %12s %6s %36s" % ("server", "queries/s", "lost", "at half load: avg / sd / p50 / p99 ms"))
    for name, (full, half) in results.items():
        print("%-6s %12.0f %6d %18.3f / %.3f / %.3f / %.3f" % (name, full[0], full[3], half[1], half[2], half[4], half[5]))
    print("kumo/nsd: %.0f%% of NSD's queries/s" % (100 * results["kumo"][0][0] / results["nsd"][0][0]))


if __name__ == "__main__":
    main()
