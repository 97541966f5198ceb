#!/usr/bin/env python3
"""SQS benchmark: Kumo against moto's server, side by side in one run.

For each server: SendMessage and SendMessageBatch (10) throughput with wrk replaying a signed
JSON request at 8 connections (msgs/s); receive+delete throughput at 8 wrk connections, each
receiving and deleting what it got, with batches of 10 and with single messages (msgs/s; see
sqs_receive.lua: this phase runs on a fresh server of each kind that accepts unsigned requests,
its queue filled first); and long-poll wake-up latency: the time from SendMessage returning to a
waiting ReceiveMessage returning (p50/p99, boto3).

Usage: python3 bench/sqs.py [--kumo .build/release/kumo] [--seconds 5]
Needs: wrk (Debian), boto3 and moto[server] (PyPI).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "e2e"))
from edge import free_port, stop, wait_port  # noqa: E402
from sigv4 import sign  # noqa: E402


def client(port):
    return boto3.client("sqs", endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=16))


def wrk_send(port, url, seconds, batch):
    if batch:
        body = json.dumps({"QueueUrl": url, "Entries": [{"Id": str(i), "MessageBody": "m%d" % i} for i in range(10)]})
        target = "AmazonSQS.SendMessageBatch"
    else:
        body = json.dumps({"QueueUrl": url, "MessageBody": "hello"})
        target = "AmazonSQS.SendMessage"
    endpoint = "http://127.0.0.1:%d/" % port
    headers = sign("POST", endpoint, {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}, body.encode(), "sqs")
    lua = "wrk.method = 'POST'\nwrk.body = [[%s]]\n" % body + "".join("wrk.headers['%s'] = '%s'\n" % kv for kv in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "-s", f.name, endpoint], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps * (10 if batch else 1), int(non2xx.group(1)) if non2xx else 0


def receive_delete(port, url, seconds, batch):
    """Messages received and deleted per second by 8 wrk connections (sqs_receive.lua)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sqs_receive.lua")
    out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "--timeout", "10s", "-s", script, "http://127.0.0.1:%d/" % port, "--", url, str(batch)],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    deleted = int(re.search(r"deleted: (\d+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return deleted / seconds, int(non2xx.group(1)) if non2xx else 0


def receive_phase(cmd, port, seconds, env=None):
    """A fresh server per batch size: fill a queue with batched sends, then receive and delete."""
    r = {}
    for batch in (10, 1):
        proc = subprocess.Popen(cmd(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            wait_port(port, proc)
            url = client(port).create_queue(QueueName="drain")["QueueUrl"]
            wrk_send(port, url, seconds * 2, True)
            r["recv%d" % batch] = receive_delete(port, url, seconds, batch)
        finally:
            stop(proc)
    return r


def wakeup(port, samples):
    c, waiter = client(port), client(port)
    url = c.create_queue(QueueName="wake")["QueueUrl"]
    lat = []
    for _ in range(samples):
        got = {}

        def recv():
            waiter.receive_message(QueueUrl=url, WaitTimeSeconds=10)
            got["t"] = time.monotonic()

        t = threading.Thread(target=recv)
        t.start()
        time.sleep(0.05)
        c.send_message(QueueUrl=url, MessageBody="x")
        sent = time.monotonic()
        t.join()
        lat.append((got["t"] - sent) * 1000)
        for m in c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]


def run(name, cmd, port, seconds, env=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, proc)
        c = client(port)
        url = c.create_queue(QueueName="bench")["QueueUrl"]
        r = {"name": name}
        r["send1"] = wrk_send(port, url, seconds, False)
        r["send10"] = wrk_send(port, url, seconds, True)
        r["wake"] = wakeup(port, 40)
        return r
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        k = run("kumo", [args.kumo, "up", "--port", str(port), "--data-dir", d, "--log-level", "warning"], port, args.seconds)
    k.update(receive_phase(lambda p: [args.kumo, "up", "--port", str(p), "--ephemeral", "--log-level", "warning", "--no-auth"],
                           free_port(), args.seconds))
    port = free_port()
    m = run("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(port)], port, args.seconds, env=env)
    m.update(receive_phase(lambda p: ["moto_server", "-H", "127.0.0.1", "-p", str(p)], free_port(), args.seconds, env=env))
    print("%-40s %12s %12s %8s" % ("", "kumo", "moto", "ratio"))
    for label, key in [("SendMessage, 8 conn (msgs/s)", "send1"), ("SendMessageBatch 10, 8 conn (msgs/s)", "send10"),
                       ("receive+delete batches of 10, 8 conn", "recv10"), ("receive+delete single, 8 conn", "recv1")]:
        ratio = "%7.1fx" % (k[key][0] / m[key][0]) if m[key][0] else "  (moto: none in time)"
        print("%-40s %12.0f %12.0f %s" % (label, k[key][0], m[key][0], ratio))
        if k[key][1] or m[key][1]:
            print("   non-2xx answers: kumo %d, moto %d" % (k[key][1], m[key][1]))
    print("%-40s %6.1f/%5.1f %6.1f/%5.1f" % ("long-poll wake-up p50/p99 (ms)", k["wake"][0], k["wake"][1], m["wake"][0], m["wake"][1]))


if __name__ == "__main__":
    main()
