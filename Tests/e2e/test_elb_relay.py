"""A load balancer's own listener port: requests relayed to IP targets on the event loop —
bodies both ways, HEAD, pipelined requests, Connection: close, chunked uploads, large answers,
a dead target (502) and a slow one (504) — checked with raw sockets and requests."""
import socket
import time

import botocore.exceptions
import pytest
import requests

from conftest import wait_for
from origin import Origin
from test_elb import health, listener_port


def balance(kumo, origins, name="relay", idle_timeout=None):
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    lb = elb.create_load_balancer(Name=name, Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    if idle_timeout:
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"],
                                            Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(idle_timeout)}])
    group = elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=subnets[0]["VpcId"], TargetType="ip",
                                    HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                    HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": "127.0.0.1", "Port": o.port} for o in origins])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
    assert wait_for(lambda: all(h["State"] == "healthy" for h in health(elb, group).values()), timeout=30)
    return elb, lb, group, wait_for(lambda: listener_port(kumo, "elb %s:80" % name))


def exchange(port, raw, timeout=10):
    """Sends raw requests, reads until each has its whole answer (Content-Length framed; none
    for HEAD) or the connection ends."""
    methods = [line.split(b" ")[0] for line in raw.split(b"\r\n") if line.endswith(b" HTTP/1.1")]
    answers = len(methods)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, rest = [], data
        while b"\r\n\r\n" in rest:
            head, rest = rest.split(b"\r\n\r\n", 1)
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            body_length = 0 if methods[len(done)] == b"HEAD" else (length[0] if length else 0)
            if len(rest) < body_length:
                break
            done.append((head, rest[:body_length]))
            rest = rest[body_length:]
        if len(done) >= answers:
            s.settimeout(0.3)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                closed = False
            s.close()
            return done, closed
        chunk = s.recv(65536)
        if not chunk:
            s.close()
            return done, True
        data += chunk
    raise AssertionError("no answer: %r" % data[:300])


def test_requests_and_bodies_pass_through_the_listener_port(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    origin = Origin()
    try:
        origin.set("/health", b"ok")
        origin.set("/page", b"hello " * 10, headers={"Content-Type": "text/plain", "X-From": "target"})
        big = bytes(range(256)) * (3 * 4096)  # 3 MiB
        origin.set("/big", big, headers={"Content-Type": "application/octet-stream"})
        origin.set("/upload", b"stored", status=201)
        elb, lb, group, port = balance(kumo, [origin])
        url = "http://127.0.0.1:%d" % port

        r = requests.get(url + "/page?b=2&a=1", headers={"X-Forwarded-For": "10.1.2.3"}, timeout=10)
        assert r.status_code == 200 and r.text == "hello " * 10 and r.headers["X-From"] == "target"
        method, path, sent, _ = origin.last("/page")
        assert (method, path) == ("GET", "/page?b=2&a=1")
        assert sent["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1" and sent["X-Forwarded-Proto"] == "http" and sent["X-Forwarded-Port"] == "80"
        assert sent["X-Amzn-Trace-Id"].startswith("Root=1-")

        # A large answer streams through whole; HEAD gets the head only.
        r = requests.get(url + "/big", timeout=30)
        assert r.status_code == 200 and r.content == big
        r = requests.head(url + "/big", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Length"] == str(len(big)) and r.content == b""

        # Bodies go up: with a length, and chunked (read whole, then sent with a length).
        payload = b"x" * (200 << 10)
        r = requests.post(url + "/upload", data=payload, timeout=10)
        assert r.status_code == 201 and r.text == "stored"
        assert origin.last("/upload")[3] == payload
        r = requests.post(url + "/upload", data=iter([b"part one, ", b"part two"]), timeout=10)
        assert r.status_code == 201
        assert origin.last("/upload")[3] == b"part one, part two" and "Transfer-Encoding" not in origin.last("/upload")[2]

        # Two requests in one write: answered in order on the same connection.
        raw = b"GET /page HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big HTTP/1.1\r\nHost: x\r\n\r\n"
        answers, closed = exchange(port, raw)
        assert answers[0][0].startswith(b"HTTP/1.1 200") and answers[0][1] == b"hello " * 10
        assert answers[1][0].startswith(b"HTTP/1.1 200") and b"content-length: %d" % len(big) in answers[1][0].lower()
        assert not closed
        # Connection: close is honoured once the answer is out.
        answers, closed = exchange(port, b"GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answers[0][1] == b"hello " * 10 and closed

        # Nothing at the path: the target's own 404 comes back as it is.
        assert requests.get(url + "/missing", timeout=10).status_code == 404
        assert wait_for(lambda: sum(p["Sum"] for p in kumo.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_4XX_Count",
            Dimensions=[{"Name": "LoadBalancer", "Value": lb["LoadBalancerArn"].split("loadbalancer/")[1]}],
            StartTime=time.time() - 600, EndTime=time.time() + 600, Period=60, Statistics=["Sum"])["Datapoints"]) >= 1, timeout=30)
    finally:
        origin.close()


def test_dead_and_slow_targets_get_502_and_504(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    slow, dead = Origin(), Origin()
    try:
        for o in (slow, dead):
            o.set("/health", b"ok")
        slow.set("/slow", b"late", delay=3)
        slow.set("/fast", b"quick")
        elb, lb, group, port = balance(kumo, [slow], name="slow", idle_timeout=1)
        url = "http://127.0.0.1:%d" % port
        assert requests.get(url + "/fast", timeout=10).text == "quick"
        started = time.time()
        r = requests.get(url + "/slow", timeout=10)
        assert r.status_code == 504 and r.headers["Server"] == "awselb/2.0" and time.time() - started < 3
        assert requests.get(url + "/fast", timeout=10).text == "quick"

        elb2, lb2, group2, port2 = balance(kumo, [dead], name="dead")
        dead.close()
        r = requests.get("http://127.0.0.1:%d/" % port2, timeout=10)
        assert r.status_code == 502 and r.headers["Server"] == "awselb/2.0" and "502 Bad Gateway" in r.text
    finally:
        slow.close()


def test_idle_client_connections_close_after_the_idle_timeout(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    origin = Origin()
    try:
        origin.set("/health", b"ok")
        origin.set("/page", b"hi")
        elb, lb, group, port = balance(kumo, [origin], name="idle", idle_timeout=1)

        def ask(sock):
            sock.sendall(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"\r\n\r\nhi"):
                chunk = sock.recv(4096)
                assert chunk, "closed while a request was answered"
                data += chunk
            return data

        busy = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert ask(idle).startswith(b"HTTP/1.1 200")
        started = time.time()
        while time.time() - started < 2.5:
            assert ask(busy).startswith(b"HTTP/1.1 200")
            time.sleep(0.3)
        # Quiet for longer than idle_timeout.timeout_seconds (1 s): closed by the balancer.
        idle.settimeout(2)
        assert idle.recv(1) == b""
        # The one that kept carrying requests is still open.
        assert ask(busy).startswith(b"HTTP/1.1 200")
        busy.close()
        idle.close()
    finally:
        origin.close()


class RawTarget:
    """A target that answers with exact bytes: chunked, unframed, informational and split heads,
    and garbage, to check what the listener port makes of each."""
    ANSWERS = {
        "/health": [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
        "/chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\n"
                     b"5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n"],
        "/early": [b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"],
        "/split": [b"HTTP/1.1 200 OK\r\nCon", b"tent-Length: 4\r\n\r", b"\nbo", b"dy"],
        "/unframed": [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ", b"close"],
        "/garbage": [b"NOT HTTP AT ALL\r\n\r\n"],
    }

    def __init__(self):
        import threading
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import threading
        while not self.closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def connection(self, conn):
        data = b""
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, data = data.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1].decode()
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                while len(data) < (length[0] if length else 0):
                    data += conn.recv(65536)
                body, data = data[:length[0] if length else 0], data[length[0] if length else 0:]
                if path == "/echo":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                for i, piece in enumerate(self.ANSWERS.get(path, [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"])):
                    if i:
                        time.sleep(0.05)
                    conn.sendall(piece)
                if path in ("/unframed", "/garbage"):
                    return
        finally:
            conn.close()

    def close(self):
        self.closed = True
        self.server.close()


def test_target_answers_framed_every_way_reach_the_client(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    target = RawTarget()
    try:
        elb, lb, group, port = balance(kumo, [target], name="framing")
        url = "http://127.0.0.1:%d" % port
        # Chunked: passed on in chunks (trailers and extensions included), decoded by the client.
        r = requests.get(url + "/chunked", timeout=10)
        assert r.status_code == 200 and r.text == "hello, world" and r.headers["Transfer-Encoding"] == "chunked"
        # An informational answer before the real one is not passed on.
        r = requests.get(url + "/early", timeout=10)
        assert r.status_code == 200 and r.text == "after" and "Link" not in r.headers
        # A head that arrives in pieces.
        assert requests.get(url + "/split", timeout=10).text == "body"
        # No length and no chunks: the body ends when the target closes, and so does the client's connection.
        r = requests.get(url + "/unframed", timeout=10)
        assert r.status_code == 200 and r.text == "until close" and r.headers["Connection"] == "close"
        # Not HTTP: the balancer answers 502 itself.
        r = requests.get(url + "/garbage", timeout=10)
        assert r.status_code == 502 and r.headers["Server"] == "awselb/2.0"
        # Plain requests, then a chunked upload (read whole by the full HTTP parser), then more, on one
        # connection: all answered in order.
        raw = (b"GET /split HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /split HTTP/1.1\r\nHost: x\r\n\r\n")
        answers, closed = exchange(port, raw)
        assert [a[1] for a in answers] == [b"body", b"abc", b"hello", b"body"] and not closed
        # A body sent in pieces after its head, then a pipelined request behind it.
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.2)
        s.sendall(b"56789GET /split HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"body"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        assert b"\r\n\r\n0123456789HTTP/1.1 200" in data
        s.close()
    finally:
        target.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_edge_relays_a_balancers_requests_and_hands_back_the_rest(start_kumo):
    """On the edge port, requests to the balancer's DNS name go to the same byte relay; one it
    does not forward (a fixed response) goes back to the HTTP handlers, with the rest of the connection."""
    kumo = start_kumo("--time-scale", "0.05")
    origin = Origin()
    try:
        origin.set("/health", b"ok")
        origin.set("/page", b"hello " * 10, headers={"Content-Type": "text/plain", "X-From": "target"})
        origin.set("/upload", b"stored", status=201)
        elb, lb, group, port = balance(kumo, [origin], name="edge")
        listener = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"][0]
        elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=1, Conditions=[{"Field": "path-pattern", "Values": ["/fixed"]}],
                        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain",
                                                                                      "MessageBody": "teapot"}}])
        host = lb["DNSName"]
        edge_port = int(kumo.url.rsplit(":", 1)[1])

        r = requests.get(kumo.url + "/page?a=1", headers={"Host": host, "X-Forwarded-For": "10.1.2.3"}, timeout=10)
        assert r.status_code == 200 and r.text == "hello " * 10 and r.headers["X-From"] == "target"
        method, path, sent, _ = origin.last("/page")
        assert (method, path) == ("GET", "/page?a=1") and sent["Host"] == host
        assert sent["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1" and sent["X-Forwarded-Proto"] == "http" and sent["X-Forwarded-Port"] == "80"
        payload = b"y" * (100 << 10)
        r = requests.post(kumo.url + "/upload", data=payload, headers={"Host": host}, timeout=10)
        assert r.status_code == 201 and r.text == "stored" and origin.last("/upload")[3] == payload
        # Counted in the edge's own metrics, as its other requests are.
        metrics = requests.get(kumo.url + "/_kumo/metrics", timeout=10).text
        assert 'kumo_requests_total{service="elbv2",operation="GET",status="200"}' in metrics
        assert 'kumo_requests_total{service="elbv2",operation="POST",status="201"}' in metrics

        # One connection: relayed, handed back (the balancer answers itself), then the rest in order.
        h = host.encode()
        raw = (b"GET /page HTTP/1.1\r\nHost: " + h + b"\r\n\r\n" + b"GET /fixed HTTP/1.1\r\nHost: " + h + b"\r\n\r\n"
               + b"GET /page HTTP/1.1\r\nHost: " + h + b"\r\n\r\n" + b"GET /_kumo/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answers, closed = exchange(edge_port, raw)
        assert [a[0].split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 418 I'm a teapot", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK"]
        assert answers[0][1] == answers[2][1] == b"hello " * 10 and answers[1][1] == b"teapot" and b'"running"' in answers[3][1]
        assert not closed
        # The same on the listener's own port (where the HTTP handlers behind are NIO's).
        answers, closed = exchange(port, raw.rsplit(b"GET /_kumo", 1)[0])
        assert [a[0].split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 418 I'm a teapot", b"HTTP/1.1 200 OK"]
        assert answers[2][1] == b"hello " * 10 and not closed

        # routing.http.xff_header_processing.mode: append (above), preserve, remove — on both paths.
        for mode, expected in (("preserve", "10.1.2.3"), ("remove", None)):
            elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"],
                                                Attributes=[{"Key": "routing.http.xff_header_processing.mode", "Value": mode}])
            for url, headers in (("http://127.0.0.1:%d" % port, {}), (kumo.url, {"Host": host})):
                requests.get(url + "/page", headers=dict(headers, **{"X-Forwarded-For": "10.1.2.3"}), timeout=10)
                assert origin.last("/page")[2].get("X-Forwarded-For") == expected, (mode, url)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"],
                                                Attributes=[{"Key": "routing.http.xff_header_processing.mode", "Value": "shuffle"}])
        assert e.value.response["Error"]["Code"] == "ValidationError"

        # Over TLS on the same port: the target is told the client used https.
        r = requests.get("https://127.0.0.1:%d/page" % edge_port, headers={"Host": host}, verify=False, timeout=10)
        assert r.status_code == 200 and r.text == "hello " * 10
        assert origin.last("/page")[2]["X-Forwarded-Proto"] == "https"
    finally:
        origin.close()
