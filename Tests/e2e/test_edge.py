"""The edge: service and protocol resolution, AWS-shaped errors, Kumo's own endpoints, the CLI."""
import json
import os
import socket
import subprocess
import time

import botocore.exceptions
import cbor2
import pytest
import requests

from conftest import KUMO, ROOT
from sigv4 import sign


def test_unimplemented_operations_answer_501_in_each_protocol(kumo):
    cases = [
        ("kms", lambda c: c.list_keys()),              # json
        ("cloudwatch", lambda c: c.list_dashboards()),  # json (today's boto3)
        ("cloudfront", lambda c: c.list_key_groups()),  # rest-xml
        ("ec2", lambda c: c.describe_volumes()),       # ec2
        ("elbv2", lambda c: c.describe_ssl_policies()),  # query
        ("lambda", lambda c: c.list_functions()),      # rest-json
    ]
    for service, call in cases:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(kumo.client(service))
        err = e.value.response
        assert err["Error"]["Code"] == "NotImplemented", (service, err)
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 501, service
        assert service in err["Error"]["Message"] or service in json.dumps(err)


def test_cbor_request_is_answered_in_cbor(kumo):
    url = kumo.url + "/service/GraniteServiceVersion20100801/operation/ListDashboards"
    body = cbor2.dumps({})
    headers = sign("POST", url, {"Content-Type": "application/cbor", "Accept": "application/cbor",
                                 "smithy-protocol": "rpc-v2-cbor"}, body, "monitoring")
    r = requests.post(url, data=body, headers=headers, timeout=10)
    assert r.status_code == 501
    assert r.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert cbor2.loads(r.content)["__type"] == "NotImplemented"


def test_query_and_json_forms_of_one_service(kumo):
    # SQS through the old query protocol answers in XML, through JSON in JSON.
    body = b"Action=ListQueues&Version=2012-11-05"
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-www-form-urlencoded"}, body, "sqs")
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 200 and "<ListQueuesResponse" in r.text and "<RequestId>" in r.text
    body = b"{}"
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-amz-json-1.0",
                                           "X-Amz-Target": "AmazonSQS.ListQueues"}, body, "sqs")
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/x-amz-json-1.0") and r.json() == {}


def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(kumo):
    # Garbled JSON.
    body = b'{"QueueNamePrefix": '
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-amz-json-1.0",
                                           "X-Amz-Target": "AmazonSQS.ListQueues"}, body, "sqs")
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"
    # Unknown action.
    body = b"Action=NoSuchThing&Version=2011-06-15"
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-www-form-urlencoded"}, body, "sts")
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 400 and "<Code>InvalidAction</Code>" in r.text
    # Garbled Authorization header.
    r = requests.post(kumo.url + "/", data=body, timeout=10, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test", "X-Amz-Date": "20250101T000000Z",
        "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "IncompleteSignature" in r.text
    # No credentials at all.
    r = requests.post(kumo.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15", timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403 and "MissingAuthenticationToken" in r.text
    # A body shorter than its Content-Length, then the connection closes: nothing breaks.
    with socket.create_connection(("127.0.0.1", kumo.port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAction=Get")
    # Oversized headers are refused.
    r = requests.get(kumo.url + "/", headers={"X-Big": "a" * 70000}, timeout=10)
    assert r.status_code in (400, 431)
    assert kumo.client("sts").get_caller_identity()["Account"] == "000000000000"


def read_responses(s, count):
    """Reads `count` HTTP/1.1 responses framed by Content-Length or chunks; returns (status, headers, body) each."""
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            more = s.recv(65536)
            assert more, "connection closed early"
            data += more
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(data) < n:
                data += s.recv(65536)
            body, data = data[:n], data[n:]
        else:
            assert headers.get("transfer-encoding") == "chunked"
            body = b""
            while True:
                while b"\r\n" not in data:
                    data += s.recv(65536)
                size, data = data.split(b"\r\n", 1)
                n = int(size, 16)
                while len(data) < n + 2:
                    data += s.recv(65536)
                body, data = body + data[:n], data[n + 2:]
                if n == 0:
                    break
        out.append((int(lines[0].split()[1]), headers, body))
    return out, data


def test_pipelined_api_calls_are_answered_in_order(kumo):
    # API calls with small bodies are read and answered on the edge's byte path: pipelined ones
    # wait for the one before, a body split across writes is waited for, Connection: close ends it.
    s3 = kumo.client("s3")
    s3.create_bucket(Bucket="pipelined")
    s3.delete_public_access_block(Bucket="pipelined")
    s3.put_bucket_policy(Bucket="pipelined", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::pipelined/*"}]}))
    with socket.create_connection(("127.0.0.1", kumo.port), timeout=10) as s:
        s.sendall(b"PUT /pipelined/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
                  b"GET /pipelined/a HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /missing-bucket-b/k HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"PUT /pipelined/b HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsec")
        time.sleep(0.2)
        s.sendall(b"ond"
                  b"HEAD /pipelined/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers, rest = read_responses(s, 4)
        assert [status for status, _, _ in answers] == [200, 200, 404, 200]
        assert answers[1][2] == b"first" and b"NoSuchBucket" in answers[2][2]
        # The HEAD: its headers, no body, then the connection closes.
        s.settimeout(10)
        data = rest
        while True:
            more = s.recv(65536)
            if not more:
                break
            data += more
        head = data.decode()
        assert head.startswith("HTTP/1.1 200") and "Content-Length: 6" in head and head.endswith("\r\n\r\n")
    assert s3.get_object(Bucket="pipelined", Key="b")["Body"].read() == b"second"


def test_a_client_far_ahead_is_read_again_after_each_answer(kumo):
    # 2,000 pipelined calls of 1 KiB sent at once (2 MiB): kumo stops reading while one is answered
    # when more than 1 MiB waits behind it, and reads again after; every call is answered, in order.
    import threading
    requests_ = b"".join(b"GET /no-such-bucket-%d/k HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n" % (i, b"p" * 960)
                         for i in range(2000))
    with socket.create_connection(("127.0.0.1", kumo.port), timeout=20) as s:
        sender = threading.Thread(target=s.sendall, args=(requests_,))
        sender.start()
        answers, _ = read_responses(s, 2000)
        sender.join(timeout=20)
    assert [status for status, _, _ in answers] == [404] * 2000
    assert all(b"no-such-bucket-%d" % i in body for i, (_, _, body) in enumerate(answers))


def test_a_long_connection_does_not_grow_memory(kumo):
    # Every request a keep-alive connection carried used to stay in its read buffer.
    def rss():
        return int(next(l for l in open("/proc/%d/status" % kumo.proc.pid) if l.startswith("VmRSS")).split()[1]) // 1024
    padding = b"X-Padding: " + b"p" * 4000 + b"\r\n"
    request = b"GET /no-such-bucket-here/k HTTP/1.1\r\nHost: x\r\n" + padding + b"\r\n"
    with socket.create_connection(("127.0.0.1", kumo.port), timeout=10) as s:
        s.sendall(request)
        read_responses(s, 1)  # what a first request costs is in `before`
        before = rss()
        rest = b""
        for _ in range(100):
            s.sendall(request * 100)  # 100 × 100 requests of 4 KiB: 40 MiB through one connection
            answers, rest = read_responses_after(s, rest, 100)
            assert all(status == 404 for status, _, _ in answers)
        assert rss() - before < 20, (before, rss())


def read_responses_after(s, data, count):
    class Buffered:
        def __init__(self, s, data):
            self.s, self.data = s, data

        def recv(self, n):
            if self.data:
                out, self.data = self.data, b""
                return out
            return self.s.recv(n)
    return read_responses(Buffered(s, data), count)


def test_health_metrics_and_reset_endpoints(kumo):
    kumo.client("sts").get_caller_identity()
    health = requests.get(kumo.url + "/_kumo/health", timeout=10).json()
    assert health["status"] == "running"
    assert health["services"]["sts"] == "running"
    assert health["services"]["s3"] == "running"
    assert health["services"]["sqs"] == "running"
    assert health["services"]["route53"] == "running"
    assert health["services"]["cloudfront"] == "running"
    assert health["services"]["ec2"] == "running"
    assert health["services"]["autoscaling"] == "running"
    assert health["services"]["kms"] == "not implemented"
    listeners = {l["name"]: l["address"] for l in health["listeners"]}
    assert listeners == {"edge": kumo.url, "dns": "udp://127.0.0.1:%d" % kumo.dns_port}
    metrics = requests.get(kumo.url + "/_kumo/metrics", timeout=10).text
    assert 'kumo_requests_total{service="sts",operation="GetCallerIdentity",status="200"}' in metrics
    assert "kumo_request_duration_seconds_bucket" in metrics
    assert "kumo_open_connections" in metrics
    r = requests.post(kumo.url + "/_kumo/reset?service=sts", timeout=10)
    assert r.json() == {"reset": ["sts"]}
    assert requests.post(kumo.url + "/_kumo/reset?service=nope", timeout=10).status_code == 400


def test_reset_drops_temporary_credentials(kumo):
    creds = kumo.client("sts").get_session_token()["Credentials"]
    subprocess.run([KUMO, "reset", "--port", str(kumo.port)], check=True, capture_output=True, timeout=30)
    session = kumo.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        session.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_status_and_version_commands(kumo):
    out = subprocess.run([KUMO, "status", "--port", str(kumo.port)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "is running" in out.stdout and "sts" in out.stdout
    out = subprocess.run([KUMO, "version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("kumo ")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    out = subprocess.run([KUMO, "status", "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "no kumo is listening" in out.stderr
    for cmd in (["--help"], ["up", "--help"], ["status", "--help"], ["reset", "--help"]):
        assert subprocess.run([KUMO, *cmd], capture_output=True, timeout=30).returncode == 0


def test_host_names_resolve_services(kumo):
    # `sts.localhost` without a signature scope still reaches STS (and asks for credentials).
    r = requests.post(kumo.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15", timeout=10,
                      headers={"Host": "sts.localhost:%d" % kumo.port, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403 and "MissingAuthenticationToken" in r.text
    # A virtual-hosted S3 name reaches S3, for that bucket.
    r = requests.get(kumo.url + "/", headers={"Host": "my-bucket.s3.localhost:%d" % kumo.port}, timeout=10)
    assert "x-amz-request-id" in r.headers and "<Code>NoSuchBucket</Code>" in r.text and "<BucketName>my-bucket<" in r.text


def test_ready_file_and_startup_line(kumo):
    with open(os.path.join(kumo.data_dir, "kumo.log")) as f:
        log = f.read()
    assert "edge listening on %s" % kumo.url in log


def test_the_committed_store_baseline_is_current():
    """New data dirs are made from Sources/Kumo/SchemaBaseline.swift; after a new migration it must be
    written again (`swift run kumo store-baseline > Sources/Kumo/SchemaBaseline.swift`)."""
    printed = subprocess.run([KUMO, "store-baseline"], capture_output=True, text=True, timeout=60, check=True).stdout
    with open(os.path.join(ROOT, "Sources", "Kumo", "SchemaBaseline.swift")) as f:
        assert printed == f.read(), "Sources/Kumo/SchemaBaseline.swift is out of date: run `swift run kumo store-baseline > Sources/Kumo/SchemaBaseline.swift`"
