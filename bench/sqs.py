#!/usr/bin/env python3
"""SQS benchmark: Kumo against moto's server, side by side in one run.

For each server: SendMessage and SendMessageBatch (10) throughput with wrk replaying a signed
JSON request at 8 connections (msgs/s); receive+delete throughput with 8 boto3 threads using
batches of 10 (msgs/s; boto3 is the ceiling near 600 requests/s here); and long-poll wake-up
latency: the time from SendMessage returning to a waiting ReceiveMessage returning (p50/p99).

Usage: python3 bench/sqs.py [--kumo .build/release/kumo] [--seconds 5]
Needs: wrk (Debian), boto3 and moto[server] (PyPI).
"""
import argparse
import concurrent.futures
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


def receive_delete(port, url, seconds):
    stop = time.monotonic() + seconds
    count = [0]
    lock = threading.Lock()

    def worker(_):
        c = client(port)
        while time.monotonic() < stop:
            msgs = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                continue
            c.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
            with lock:
                count[0] += len(msgs)

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    return count[0] / (time.monotonic() - start)


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
        r["recv"] = receive_delete(port, url, seconds)
        r["wake"] = wakeup(port, 40)
        return r
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kumo", default=".build/release/kumo")
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        k = run("kumo", [args.kumo, "up", "--port", str(port), "--data-dir", d, "--log-level", "warning"], port, args.seconds)
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    m = run("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(port)], port, args.seconds, env=env)
    print("%-40s %12s %12s %8s" % ("", "kumo", "moto", "ratio"))
    for label, key in [("SendMessage, 8 conn (msgs/s)", "send1"), ("SendMessageBatch 10, 8 conn (msgs/s)", "send10")]:
        print("%-40s %12.0f %12.0f %7.1fx" % (label, k[key][0], m[key][0], k[key][0] / m[key][0]))
        if k[key][1] or m[key][1]:
            print("   non-2xx answers: kumo %d, moto %d" % (k[key][1], m[key][1]))
    print("%-40s %12.0f %12.0f %7.1fx" % ("receive+delete batches, 8 boto3 threads", k["recv"], m["recv"], k["recv"] / m["recv"]))
    print("%-40s %6.1f/%5.1f %6.1f/%5.1f" % ("long-poll wake-up p50/p99 (ms)", k["wake"][0], k["wake"][1], m["wake"][0], m["wake"][1]))


if __name__ == "__main__":
    main()
