"""Application load balancers end to end: the elbv2 API with boto3 and the aws CLI, and
real traffic through the balancer to EC2 instances (real processes) and IP targets."""
import collections
import datetime
import json
import threading
import time

import botocore.exceptions
import pytest
import requests

from conftest import aws_cli
from origin import Origin
from conftest import wait_for
from test_ec2 import SERVER


def setup_app(kumo, count=2, **tg):
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    vpc = subnets[0]["VpcId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-kumo-linux", MinCount=count, MaxCount=count, UserData=SERVER)["Instances"]]
    lb = elb.create_load_balancer(Name="web", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    settings = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2)
    settings.update(tg)
    group = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=8080, VpcId=vpc, **settings)["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": i} for i in ids])
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])["Listeners"][0]
    return ec2, elb, ids, lb, group, listener


def ip_balancer(kumo, name, groups):
    """A load balancer and, for each (group name, origins), an ip target group of those origins
    on 127.0.0.1, health-checked on /healthy."""
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    lb = elb.create_load_balancer(Name=name, Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    made = []
    for group, origins in groups:
        g = elb.create_target_group(Name=group, Protocol="HTTP", Port=origins[0].port, VpcId=subnets[0]["VpcId"], TargetType="ip",
                                    HealthCheckPath="/healthy", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                    HealthyThresholdCount=2)["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=g["TargetGroupArn"], Targets=[{"Id": "127.0.0.1", "Port": o.port} for o in origins])
        made.append(g)
    return elb, lb, made


def listener_port(kumo, name):
    listeners = requests.get(kumo.url + "/_kumo/health", timeout=10).json()["listeners"]
    found = [l["address"] for l in listeners if l["name"] == name]
    return int(found[0].rsplit(":", 1)[1]) if found else None


def health(elb, group):
    return {t["Target"]["Id"]: t["TargetHealth"] for t in elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]}


def get(kumo, lb, path="/", **headers):
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    headers["Host"] = lb["DNSName"]
    return requests.get(kumo.url + path, headers=headers, allow_redirects=False, timeout=10)


def test_balances_healthy_instances_and_follows_their_health(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb, ids, lb, group, listener = setup_app(kumo)
    assert lb["DNSName"].startswith("web-") and lb["DNSName"].endswith(".us-east-1.elb.localhost")
    assert lb["State"]["Code"] == "provisioning"
    assert wait_for(lambda: all(h["State"] == "healthy" for h in health(elb, group).values()))
    assert wait_for(lambda: elb.describe_load_balancers(Names=["web"])["LoadBalancers"][0]["State"]["Code"] == "active")

    seen = collections.Counter(get(kumo, lb).text.strip() for _ in range(8))
    assert seen == {"hello from " + ids[0]: 4, "hello from " + ids[1]: 4}

    # A stopped instance leaves the rotation; all traffic goes to the other one.
    ec2.stop_instances(InstanceIds=[ids[0]])
    assert wait_for(lambda: health(elb, group)[ids[0]]["State"] == "unused")
    assert health(elb, group)[ids[0]]["Reason"] == "Target.InvalidState"
    assert {get(kumo, lb).text.strip() for _ in range(4)} == {"hello from " + ids[1]}

    # Deregistered: draining for the deregistration delay, out of the rotation at once.
    elb.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"],
                                       Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "600"}])
    elb.deregister_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": ids[1]}])
    assert health(elb, group)[ids[1]]["State"] == "draining"
    r = get(kumo, lb)
    assert r.status_code == 503 and r.headers["Server"] == "awselb/2.0"


def test_rules_fixed_responses_redirects_and_headers(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    origin = Origin()
    try:
        origin.set("/api/users", b"users from ip target", headers={"Content-Type": "text/plain"})
        origin.set("/healthy", b"ok")
        ec2, elb, ids, lb, group, listener = setup_app(kumo, count=1)
        vpc = group["VpcId"]
        api = elb.create_target_group(Name="api", Protocol="HTTP", Port=origin.port, VpcId=vpc, TargetType="ip", HealthCheckPath="/healthy",
                                      HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=api["TargetGroupArn"], Targets=[{"Id": "127.0.0.1"}])
        arn = listener["ListenerArn"]
        elb.create_rule(ListenerArn=arn, Priority=20, Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                        Actions=[{"Type": "forward", "TargetGroupArn": api["TargetGroupArn"]}])
        elb.create_rule(ListenerArn=arn, Priority=10, Conditions=[{"Field": "path-pattern", "Values": ["/api/admin*"]}],
                        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403", "ContentType": "text/plain", "MessageBody": "no"}}])
        elb.create_rule(ListenerArn=arn, Priority=30, Conditions=[{"Field": "host-header", "Values": ["old.example.*"]}],
                        Actions=[{"Type": "redirect", "RedirectConfig": {"Host": "new.example.com", "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.create_rule(ListenerArn=arn, Priority=20, Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
                            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
        assert e.value.response["Error"]["Code"] == "PriorityInUse"
        rules = elb.describe_rules(ListenerArn=arn)["Rules"]
        assert [r["Priority"] for r in rules] == ["10", "20", "30", "default"] and rules[-1]["IsDefault"]

        assert wait_for(lambda: health(elb, api)["127.0.0.1"]["State"] == "healthy")
        assert wait_for(lambda: all(h["State"] == "healthy" for h in health(elb, group).values()))
        r = get(kumo, lb, "/api/users", X_Forwarded_For="203.0.113.9")
        assert r.status_code == 200 and r.text == "users from ip target"
        _, path, sent, _ = origin.last("/api/users")
        assert sent["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1" and sent["X-Forwarded-Proto"] == "http"
        assert sent["X-Forwarded-Port"] == "80" and sent["X-Amzn-Trace-Id"].startswith("Root=1-")
        assert sent["Host"] == lb["DNSName"]
        denied = get(kumo, lb, "/api/admin/users")
        assert denied.status_code == 403 and denied.text == "no"

        # The listener also has a real port of its own, where any Host reaches the load balancer.
        port = wait_for(lambda: listener_port(kumo, "elb web:80"))
        moved = requests.get("http://127.0.0.1:%d/a/b?x=1" % port, headers={"Host": "old.example.org"}, allow_redirects=False, timeout=10)
        assert moved.status_code == 301 and moved.headers["Location"] == "https://new.example.com/a/b?x=1"
        direct = requests.get("http://127.0.0.1:%d/api/users" % port, timeout=10)
        assert direct.text == "users from ip target"
        assert origin.last("/api/users")[2]["X-Forwarded-Port"] == "80"
        assert get(kumo, lb, "/").text.strip() == "hello from " + ids[0]

        # An unhealthy target: wrong status code for the health check.
        origin.set("/healthy", b"down", status=500)
        assert wait_for(lambda: health(elb, api)["127.0.0.1"]["State"] == "unhealthy")
        assert health(elb, api)["127.0.0.1"]["Reason"] == "Target.ResponseCodeMismatch"
        assert get(kumo, lb, "/api/users").status_code == 503

        tgs = elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
        assert sorted(t["TargetGroupName"] for t in tgs) == ["api", "web-tg"]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.delete_target_group(TargetGroupArn=api["TargetGroupArn"])
        assert e.value.response["Error"]["Code"] == "ResourceInUse"
    finally:
        origin.close()


def test_api_errors_and_the_cli(kumo):
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_load_balancer(Name="one-zone", Subnets=[subnets[0]["SubnetId"]])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_load_balancer(Name="-bad-", Subnets=[s["SubnetId"] for s in subnets[:2]])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    out = aws_cli(kumo, "elbv2", "create-load-balancer", "--name", "cli-lb", "--subnets", subnets[0]["SubnetId"], subnets[1]["SubnetId"])
    lb = json.loads(out.stdout)["LoadBalancers"][0]
    assert lb["Type"] == "application" and lb["Scheme"] == "internet-facing"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.describe_load_balancers(Names=["missing"])
    assert e.value.response["Error"]["Code"] == "LoadBalancerNotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": lb["LoadBalancerArn"].replace("loadbalancer/app", "targetgroup")}])
    assert e.value.response["Error"]["Code"] == "TargetGroupNotFound"
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "hi"}}]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=fixed)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=fixed)
    assert e.value.response["Error"]["Code"] == "DuplicateListener"
    assert requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10).text == "hi"
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "60"
    elb.add_tags(ResourceArns=[lb["LoadBalancerArn"]], Tags=[{"Key": "env", "Value": "dev"}])
    assert elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"] == [{"Key": "env", "Value": "dev"}]
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10).status_code != 200


def test_cloudfront_in_front_of_the_load_balancer(start_kumo):
    """The dynamic path: CloudFront → ALB (by its DNS name) → instances."""
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb, ids, lb, group, listener = setup_app(kumo)
    assert wait_for(lambda: all(h["State"] == "healthy" for h in health(elb, group).values()))
    cf = kumo.client("cloudfront")
    d = cf.create_distribution(DistributionConfig={
        "CallerReference": "alb", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "alb", "DomainName": lb["DNSName"], "CustomOriginConfig": {
            "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "alb", "ViewerProtocolPolicy": "allow-all",
                                 "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"}})["Distribution"]
    answers = collections.Counter()
    for _ in range(4):
        r = requests.get(kumo.url + "/", headers={"Host": d["DomainName"]}, timeout=10)
        assert r.status_code == 200 and r.headers["X-Cache"] == "Miss from cloudfront"
        answers[r.text.strip()] += 1
    assert set(answers) == {"hello from " + i for i in ids}


def test_access_logs_are_delivered_to_the_bucket(start_kumo):
    import gzip
    kumo = start_kumo("--time-scale", "0.02")
    ec2, elb, ids, lb, group, listener = setup_app(kumo, count=1)
    s3 = kumo.client("s3")
    attrs = [{"Key": "access_logs.s3.enabled", "Value": "true"}, {"Key": "access_logs.s3.bucket", "Value": "alb-logs"},
             {"Key": "access_logs.s3.prefix", "Value": "web"}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=attrs)
    assert e.value.response["Error"]["Code"] == "InvalidConfigurationRequest"
    s3.create_bucket(Bucket="alb-logs")
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=attrs)
    assert wait_for(lambda: get(kumo, lb, "/").status_code == 200, timeout=30)
    assert get(kumo, lb, "/index.html?x=1", User_Agent="probe/2").status_code == 200

    def delivered():
        return s3.list_objects_v2(Bucket="alb-logs", Prefix="web/AWSLogs/000000000000/elasticloadbalancing/us-east-1/").get("Contents")
    files = wait_for(delivered, timeout=30)
    assert files and files[0]["Key"].endswith(".log.gz") and "_elasticloadbalancing_us-east-1_app.web." in files[0]["Key"]
    lines = []
    for f in files:
        lines += gzip.decompress(s3.get_object(Bucket="alb-logs", Key=f["Key"])["Body"].read()).decode().splitlines()
    probe = [l for l in lines if '"probe/2"' in l]
    assert len(probe) == 1, lines
    fields = probe[0].split(" ")
    assert fields[0] == "http" and fields[2].startswith("app/web/") and fields[8] == "200" and fields[9] == "200"
    assert '"GET http://%s:80/index.html?x=1 HTTP/1.1"' % lb["DNSName"] in probe[0]
    assert group["TargetGroupArn"] in fields and '"forward"' in probe[0] and '"Root=1-' in probe[0]

    # Every request is also in CloudWatch Logs, in the load balancer's log group, whether or not S3 logs are on.
    logs = kumo.client("logs")

    def logged():
        try:
            events = logs.filter_log_events(logGroupName="/kumo/elb/web", filterPattern='"probe/2"')["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return events or None
    events = wait_for(logged, timeout=10)
    assert events and events[0]["logStreamName"] == "access" and events[0]["message"] == probe[0]

    # The bytes that went to and came from the instance through the load balancer: AWS/EC2 NetworkIn/NetworkOut.
    cw = kumo.client("cloudwatch")

    def network(name):
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        points = cw.get_metric_statistics(Namespace="AWS/EC2", MetricName=name, Dimensions=[{"Name": "InstanceId", "Value": ids[0]}],
                                          StartTime=end - datetime.timedelta(minutes=10), EndTime=end, Period=60, Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in points)
    assert wait_for(lambda: network("NetworkIn") > 100 and network("NetworkOut") > 100, timeout=10)

    # The load balancer's own metrics, with AWS's dimensions.
    lb_dim = {"Name": "LoadBalancer", "Value": lb["LoadBalancerArn"].split(":loadbalancer/")[1]}
    tg_dim = {"Name": "TargetGroup", "Value": group["TargetGroupArn"].split(":")[-1]}

    def stat(name, dims, statistic="Sum"):
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName=name, Dimensions=dims, StartTime=end - datetime.timedelta(minutes=10),
                                          EndTime=end, Period=60, Statistics=[statistic])["Datapoints"]
        return [p[statistic] for p in points]
    assert wait_for(lambda: sum(stat("RequestCount", [lb_dim])) >= 2 and sum(stat("HTTPCode_Target_2XX_Count", [lb_dim, tg_dim])) >= 2, timeout=10)
    assert stat("TargetResponseTime", [lb_dim, tg_dim], "Average") and sum(stat("NewConnectionCount", [lb_dim])) >= 1
    assert max(stat("ActiveConnectionCount", [lb_dim], "Maximum")) >= 1
    assert max(stat("HealthyHostCount", [tg_dim, lb_dim], "Maximum")) == 1


def test_load_balancer_cookie_stickiness(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb, ids, lb, group, listener = setup_app(kumo, count=2)
    assert wait_for(lambda: sum(h["State"] == "healthy" for h in health(elb, group).values()) == 2, timeout=30)
    # Without stickiness, requests alternate between the two instances and no cookie is set.
    plain = [get(kumo, lb, "/") for _ in range(4)]
    assert len({r.text for r in plain}) == 2 and all("AWSALB" not in r.headers.get("Set-Cookie", "") for r in plain)
    elb.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"], Attributes=[
        {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "lb_cookie"},
        {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "120"}])
    first = get(kumo, lb, "/")
    cookies = first.headers.get("Set-Cookie", "")
    assert "AWSALB=" in cookies and "AWSALBCORS=" in cookies and "SameSite=None" in cookies
    value = cookies.split("AWSALB=")[1].split(";")[0]
    held = [get(kumo, lb, "/", Cookie="AWSALB=%s; theme=dark" % value).text for _ in range(6)]
    assert held == [first.text] * 6
    # A cookie that names nothing in the group is ignored.
    assert get(kumo, lb, "/", Cookie="AWSALB=bm9wZXxub3BlfDA=").status_code == 200
    # Slow start is accepted; targets that are already settled keep their full share.
    elb.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"], Attributes=[
        {"Key": "stickiness.enabled", "Value": "false"}, {"Key": "slow_start.duration_seconds", "Value": "30"}])
    attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]}
    assert attrs["slow_start.duration_seconds"] == "30"
    time.sleep(2)  # 30 s at this time scale
    assert len({get(kumo, lb, "/").text for _ in range(6)}) == 2


def test_application_cookie_stickiness(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    origins = [Origin(), Origin()]
    try:
        for name, o in zip("AB", origins):
            o.set("/", name.encode())
            o.set("/login", name.encode(), headers={"Set-Cookie": "SESSION=%s-1; Path=/" % name})
        subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
        lb = elb.create_load_balancer(Name="app", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
        group = elb.create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=subnets[0]["VpcId"], TargetType="ip",
                                        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": "127.0.0.1", "Port": o.port} for o in origins])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
        arn = group["TargetGroupArn"]
        for bad in ([{"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "app_cookie"}],
                    [{"Key": "stickiness.app_cookie.cookie_name", "Value": "AWSALBAPP-mine"}]):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=bad)
            assert e.value.response["Error"]["Code"] == "ValidationError"
        elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "app_cookie"},
            {"Key": "stickiness.app_cookie.cookie_name", "Value": "SESSION"}, {"Key": "stickiness.app_cookie.duration_seconds", "Value": "300"}])
        assert wait_for(lambda: sum(t["TargetHealth"]["State"] == "healthy"
                                    for t in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]) == 2, timeout=30)
        # Until the application sets its cookie, the balancer sets none and requests alternate.
        plain = [get(kumo, lb, "/") for _ in range(4)]
        assert {r.text for r in plain} == {"A", "B"} and all("AWSALBAPP" not in r.headers.get("Set-Cookie", "") for r in plain)
        login = get(kumo, lb, "/login")
        cookies = login.headers["Set-Cookie"]
        assert "SESSION=%s-1" % login.text in cookies and "AWSALBAPP-0=" in cookies
        value = cookies.split("AWSALBAPP-0=")[1].split(";")[0]
        held = [get(kumo, lb, "/", Cookie="SESSION=x; AWSALBAPP-0=%s" % value).text for _ in range(6)]
        assert held == [login.text] * 6
        # The balancer's own cookie is what holds the client: without it, requests spread again.
        assert {get(kumo, lb, "/", Cookie="SESSION=x").text for _ in range(6)} == {"A", "B"}
    finally:
        for o in origins:
            o.close()


def test_websocket_upgrades_pass_through_to_a_target(start_kumo):
    import base64 as b64
    import hashlib
    import socket
    import threading

    # A WebSocket target: answers the handshake (RFC 6455 accept key), then echoes every byte.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    heads = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            text = head.decode()
            if "/healthy" in text.split("\r\n")[0]:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                conn.close()
                continue
            heads.append(text)
            key = [l.split(":", 1)[1].strip() for l in text.split("\r\n") if l.lower().startswith("sec-websocket-key:")][0]
            accept = b64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())

            def echo(c=conn):
                while True:
                    data = c.recv(4096)
                    if not data:
                        break
                    c.sendall(data)
                c.close()
            threading.Thread(target=echo, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        kumo = start_kumo("--time-scale", "0.05")
        ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
        subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
        lb = elb.create_load_balancer(Name="ws", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
        tg = elb.create_target_group(Name="ws", Protocol="HTTP", Port=server.getsockname()[1], VpcId=subnets[0]["VpcId"], TargetType="ip",
                                     HealthCheckPath="/healthy", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                     HealthyThresholdCount=2)["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "127.0.0.1"}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        assert wait_for(lambda: health(elb, tg)["127.0.0.1"]["State"] == "healthy", timeout=30)
        port = wait_for(lambda: listener_port(kumo, "elb ws:80"))

        def talk(address, host, client=None):
            client = client or socket.create_connection(address, timeout=10)
            client.sendall(b"GET /chat?room=1 HTTP/1.1\r\nHost: " + host.encode() + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += client.recv(4096)
            head, rest = answer.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 101") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
            # After the handshake the connection is a byte pipe both ways.
            for message in [b"\x81\x05hello", b"\x81\x06kumo!!" * 100]:
                client.sendall(message)
                got = rest
                while len(got) < len(message):
                    got += client.recv(65536)
                assert got == message
                rest = b""
            client.close()
            return heads[-1]

        sent = talk(("127.0.0.1", port), "chat.example.com")
        assert sent.startswith("GET /chat?room=1 HTTP/1.1") and "Upgrade: websocket" in sent and "X-Forwarded-For: 127.0.0.1" in sent
        # An upgrade on a later request of a keep-alive connection is relayed too.
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(b"GET /healthy HTTP/1.1\r\nHost: chat.example.com\r\n\r\n")
        first = b""
        while not first.endswith(b"\r\n\r\nok"):
            first += client.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        sent = talk(None, "chat.example.com", client)
        assert sent.startswith("GET /chat?room=1 HTTP/1.1") and "Upgrade: websocket" in sent
        # Through the edge port too, by the load balancer's DNS name.
        edge_port = int(kumo.url.rsplit(":", 1)[1])
        sent = talk(("127.0.0.1", edge_port), lb["DNSName"])
        assert "Host: " + lb["DNSName"] in sent
        # Plain requests on the listener still work.
        assert requests.get("http://127.0.0.1:%d/healthy" % port, timeout=10).text == "ok"
        # A WebSocket left open does not hold Kumo's shutdown up.
        held = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.sendall(b"GET /chat HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 101")
        began = time.time()
        assert kumo.stop() == 0 and time.time() - began < 5
        held.close()
    finally:
        server.close()


def test_security_groups_decide_which_clients_get_in(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    sg = ec2.create_security_group(GroupName="web-lb", Description="load balancer", VpcId=subnets[0]["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    lb = elb.create_load_balancer(Name="guarded", Subnets=[s["SubnetId"] for s in subnets[:2]], SecurityGroups=[sg])["LoadBalancers"][0]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain", "MessageBody": "inside"}}])
    port = wait_for(lambda: listener_port(kumo, "elb guarded:80"))
    # 127.0.0.1 is not in 10.0.0.0/8: kept out, on the listener's port and through the edge alike.
    denied = requests.get("http://127.0.0.1:%d/" % port, timeout=10)
    assert denied.status_code == 403 and sg in denied.text
    assert get(kumo, lb, "/").status_code == 403
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "127.0.0.0/8"}]}])
    assert wait_for(lambda: requests.get("http://127.0.0.1:%d/" % port, timeout=10).text == "inside", timeout=5)
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "127.0.0.0/8"}]}])
    assert wait_for(lambda: requests.get("http://127.0.0.1:%d/" % port, timeout=10).status_code == 403, timeout=5)


def test_instance_security_groups_must_let_the_load_balancer_in(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    vpc = subnets[0]["VpcId"]
    # The instance is in the VPC's default group, which only lets its own members in.
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"][0]["GroupId"]
    iid = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, UserData=SERVER)["Instances"][0]["InstanceId"]
    lb_sg = ec2.create_security_group(GroupName="alb", Description="load balancer", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=lb_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    lb = elb.create_load_balancer(Name="web", Subnets=[s["SubnetId"] for s in subnets[:2]], SecurityGroups=[lb_sg])["LoadBalancers"][0]
    group = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=8080, VpcId=vpc, HealthCheckIntervalSeconds=5,
                                    HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": iid}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
    # As on AWS: the load balancer's group is not let in, so the target's health checks time out.
    assert wait_for(lambda: health(elb, group)[iid]["State"] == "unhealthy", timeout=30)
    assert health(elb, group)[iid]["Reason"] == "Target.Timeout"
    assert get(kumo, lb, "/").status_code == 503
    # Letting the load balancer's group in on the traffic port makes it healthy.
    ec2.authorize_security_group_ingress(GroupId=default, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": lb_sg}]}])
    assert wait_for(lambda: health(elb, group)[iid]["State"] == "healthy", timeout=30)
    assert get(kumo, lb, "/").text.startswith("hello from " + iid)


def test_least_outstanding_requests_sends_new_requests_to_the_idle_target(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    a, b = Origin(), Origin()
    try:
        for o, name in ((a, b"a"), (b, b"b")):
            o.set("/healthy", b"ok")
            o.set("/slow", b"slow " + name, delay=2)
            o.set("/fast", name)
        elb, lb, (group,) = ip_balancer(kumo, "lor", [("lor", [a, b])])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
        elb.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"],
                                           Attributes=[{"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}])
        states = lambda: [t["TargetHealth"]["State"] for t in elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]]
        assert wait_for(lambda: states() == ["healthy", "healthy"])
        assert wait_for(lambda: listener_port(kumo, "elb lor:80"))
        port = listener_port(kumo, "elb lor:80")
        session = requests.Session()

        def with_one_slow(url, host=None):
            """While one slow request is in flight, six quick ones: which targets answer them."""
            before = (a.count("/slow"), b.count("/slow"))
            headers = {"Host": host} if host else {}
            slow = threading.Thread(target=lambda: requests.get(url + "/slow", headers=headers, timeout=10))
            slow.start()
            assert wait_for(lambda: (a.count("/slow"), b.count("/slow")) != before)
            busy = "a" if a.count("/slow") != before[0] else "b"
            answers = [session.get(url + "/fast", headers=headers, timeout=10).text for _ in range(6)]
            slow.join()
            return busy, answers

        for url, host in (("http://127.0.0.1:%d" % port, None), (kumo.url, lb["DNSName"])):
            busy, answers = with_one_slow(url, host)
            idle = "b" if busy == "a" else "a"
            assert answers == [idle] * 6, (busy, answers)

        # Round robin takes turns whatever each target has in flight.
        elb.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"],
                                           Attributes=[{"Key": "load_balancing.algorithm.type", "Value": "round_robin"}])
        busy, answers = with_one_slow("http://127.0.0.1:%d" % port)
        assert sorted(answers) == ["a"] * 3 + ["b"] * 3
    finally:
        a.close()
        b.close()


def test_target_group_stickiness_holds_a_client_to_its_weighted_group(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    a, b = Origin(), Origin()
    try:
        for o, name in ((a, b"a"), (b, b"b")):
            o.set("/healthy", b"ok")
            o.set("/", name)
        elb, lb, groups = ip_balancer(kumo, "tgs", [("tgs-a", [a]), ("tgs-b", [b])])
        forward = {"TargetGroups": [{"TargetGroupArn": g["TargetGroupArn"], "Weight": 1} for g in groups]}
        # Enabled without a duration, or with one out of range: refused.
        for bad in ({"Enabled": True}, {"Enabled": True, "DurationSeconds": 604801}):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                    DefaultActions=[{"Type": "forward", "ForwardConfig": dict(forward, TargetGroupStickinessConfig=bad)}])
            assert e.value.response["Error"]["Code"] == "ValidationError"
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "ForwardConfig": dict(
            forward, TargetGroupStickinessConfig={"Enabled": True, "DurationSeconds": 300})}])
        for g in groups:
            assert wait_for(lambda: health(elb, g)["127.0.0.1"]["State"] == "healthy")

        # Without the cookie, both groups get requests (by weight); each answer names its group.
        first = [get(kumo, lb, "/") for _ in range(24)]
        assert {r.text for r in first} == {"a", "b"}
        r = first[0]
        cookies = r.headers["Set-Cookie"]
        assert "AWSALBTG=" in cookies and "AWSALBTGCORS=" in cookies and "SameSite=None" in cookies
        value = cookies.split("AWSALBTG=")[1].split(";")[0]
        # With it, every request goes to that group.
        held = [get(kumo, lb, "/", Cookie="AWSALBTG=%s" % value).text for _ in range(8)]
        assert held == [r.text] * 8
        # The same on the listener's own port.
        port = wait_for(lambda: listener_port(kumo, "elb tgs:80"))
        held = [requests.get("http://127.0.0.1:%d/" % port, headers={"Cookie": "AWSALBTG=%s" % value}, timeout=10).text for _ in range(8)]
        assert held == [r.text] * 8
    finally:
        a.close()
        b.close()


def test_rules_are_modified_reordered_and_deleted_and_deletion_protection_holds(kumo):
    ec2, elb = kumo.client("ec2"), kumo.client("elbv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    lb = elb.create_load_balancer(Name="rules", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]

    def fixed(body):
        return [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain", "MessageBody": body}}]

    def path(*values):
        return [{"Field": "path-pattern", "Values": list(values)}]

    arn = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=fixed("default"))["Listeners"][0]["ListenerArn"]
    a = elb.create_rule(ListenerArn=arn, Priority=10, Conditions=path("/a"), Actions=fixed("A"))["Rules"][0]["RuleArn"]
    b = elb.create_rule(ListenerArn=arn, Priority=20, Conditions=path("/b"), Actions=fixed("B"))["Rules"][0]["RuleArn"]
    assert get(kumo, lb, "/a").text == "A" and get(kumo, lb, "/b").text == "B" and get(kumo, lb, "/c").text == "default"

    # ModifyRule: new conditions and actions take effect at once.
    elb.modify_rule(RuleArn=a, Conditions=path("/c"), Actions=fixed("A2"))
    assert get(kumo, lb, "/c").text == "A2" and get(kumo, lb, "/a").text == "default"
    # Both match /c: the lower priority number wins, and SetRulePriorities reorders them.
    elb.modify_rule(RuleArn=b, Conditions=path("/b", "/c"))
    assert get(kumo, lb, "/c").text == "A2"
    elb.set_rule_priorities(RulePriorities=[{"RuleArn": b, "Priority": 5}])
    assert [r["Priority"] for r in elb.describe_rules(ListenerArn=arn)["Rules"]] == ["5", "10", "default"]
    assert get(kumo, lb, "/c").text == "B"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.set_rule_priorities(RulePriorities=[{"RuleArn": a, "Priority": 5}])
    assert e.value.response["Error"]["Code"] == "PriorityInUse"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.create_rule(ListenerArn=arn, Priority=30, Conditions=path("/1", "/2", "/3", "/4", "/5", "/6"), Actions=fixed("x"))
    assert e.value.response["Error"]["Code"] in ("TooManyConditionValues", "ValidationError")
    # DeleteRule: the other rule takes the path again.
    elb.delete_rule(RuleArn=b)
    assert get(kumo, lb, "/c").text == "A2" and get(kumo, lb, "/b").text == "default"

    # Deletion protection: the load balancer stays until it is turned off.
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert e.value.response["Error"]["Code"] == "OperationNotPermitted"
    assert get(kumo, lb, "/c").text == "A2"
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert elb.describe_load_balancers()["LoadBalancers"] == []
