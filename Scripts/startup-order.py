#!/usr/bin/env python3
"""Regenerate Scripts/startup-order.txt: the functions a release kumo runs while it starts, answers its first
signed calls and idles, in the order the release linker should lay them out (see Scripts/build-release.sh).

Why: the binary's code is ~30 MiB and the kernel maps file pages in windows (64 KiB, or a whole large folio),
so start-up code scattered over the whole text keeps nearly all of it resident. Laid out together, the code a
running-but-idle kumo has touched fits in a few MiB.

How: runs the release binary under valgrind's callgrind (it records every function executed), dumps once
after start-up and the first signed STS call, then again after a few S3 and SQS calls; writes the first set,
then what the second added, one symbol per line. Symbols that later disappear from the code are ignored by
the linker, so a stale file only costs memory, never correctness.

Usage: python3 Scripts/startup-order.py [--kumo .build/release/kumo]
Needs: valgrind (Debian), boto3 (PyPI).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Scripts", "startup-order.txt")


def executed(path):
    names = set()
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"c?fn=\(\d+\) (.+)", line)
            if m:
                names.add(m.group(1).strip())
    return names


def text_symbols(binary):
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    return {p[2] for p in (line.split() for line in out.splitlines()) if len(p) == 3 and p[1] in "tTwW"}


def wait_for(path, proc, limit):
    start = time.monotonic()
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() - start > limit:
            raise SystemExit("kumo did not become ready under valgrind")
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=os.path.join(ROOT, ".build", "release", "kumo"))
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "strip", "nm"):
        if shutil.which(tool) is None:
            raise SystemExit("%s not found: apt-get install -y valgrind binutils" % tool)
    if not os.path.exists(args.kumo):
        raise SystemExit("%s not found: build it first with Scripts/build-release.sh" % args.kumo)
    import boto3

    work = tempfile.mkdtemp(prefix="kumo-order-")
    # valgrind 3.19 cannot read the DWARF 5 debug info Swift writes; the symbol table is all it needs
    binary = os.path.join(work, "kumo")
    subprocess.run(["strip", "--strip-debug", "-o", binary, args.kumo], check=True)
    ready = os.path.join(work, "ready.json")
    out = os.path.join(work, "callgrind.out")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out,
         binary, "up", "--port", "0", "--dns-port", "0", "--data-dir", os.path.join(work, "data"),
         "--log-level", "warning", "--ready-file", ready],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(ready, proc, 300)
        url = json.load(open(ready))["edge"]["url"]
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        boto3.client("sts", **kw).get_caller_identity()
        time.sleep(1)
        subprocess.run(["callgrind_control", "--dump=first", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
        s3, sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
        s3.create_bucket(Bucket="order")
        s3.put_object(Bucket="order", Key="k", Body=b"x" * 1024)
        s3.get_object(Bucket="order", Key="k")["Body"].read()
        q = sqs.create_queue(QueueName="order")["QueueUrl"]
        sqs.send_message(QueueUrl=q, MessageBody="m")
        sqs.receive_message(QueueUrl=q)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=120)
    dumps = sorted(glob.glob(out + "*"), key=os.path.getmtime)
    symbols = text_symbols(binary)
    first = executed(dumps[0]) & symbols
    rest = set().union(*(executed(d) for d in dumps[1:])) & symbols - first
    with open(OUT, "w") as f:
        for name in sorted(first) + sorted(rest):
            f.write(name + "\n")
    print("%s: %d start-up functions, %d more for the first S3/SQS calls" % (OUT, len(first), len(rest)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
