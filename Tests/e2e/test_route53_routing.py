"""Route 53 routing policies and health checks, asked over real DNS with dnspython and dig."""
import collections
import http.server
import json
import socket
import subprocess
import threading

import dns.edns
import dns.message
import dns.query
import pytest
from botocore.exceptions import ClientError

from conftest import aws_cli, wait_for

LOCATIONS = "10.1.0.0/16=eu-west-1:EU:DE,10.2.0.0/16=us-west-2:NA:US:CA,10.3.0.0/16=ap-northeast-1:AS:JP"


def ask(kumo, name, rtype="A", subnet=None):
    """The A values Kumo's DNS server answers (one UDP query), optionally for an ECS client subnet."""
    options = [dns.edns.ECSOption(subnet, 24)] if subnet else []
    q = dns.message.make_query(name, rtype, use_edns=0, options=options)
    r = dns.query.udp(q, "127.0.0.1", port=kumo.dns_port, timeout=2)
    return sorted(item.to_text() for rrset in r.answer for item in rrset)


def dig(kumo, *args):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(kumo.dns_port), "+time=2", "+tries=1", *args],
                       capture_output=True, text=True, timeout=20)
    return r.stdout


def routed(name, ident, value, **policy):
    rrset = {"Name": name, "Type": "A", "TTL": 30, "SetIdentifier": ident, "ResourceRecords": [{"Value": value}]}
    rrset.update(policy)
    return {"Action": "CREATE", "ResourceRecordSet": rrset}


def zone(r53, name):
    return r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]


class Health:
    """A local HTTP(S) server whose /health answers 200 while it runs; stop and start it on the same port."""

    def __init__(self, certificate=None):
        self.certificate = certificate
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.server = None

    def start(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"status: all good"
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.certificate:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def health():
    h = Health()
    h.start()
    yield h
    h.stop()


def test_weighted_routing_follows_the_weights(kumo):
    r53 = kumo.client("route53")
    z = zone(r53, "weights.test")
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [
        routed("www.weights.test", "heavy", "192.0.2.1", Weight=3),
        routed("www.weights.test", "light", "192.0.2.2", Weight=1),
        routed("www.weights.test", "off", "192.0.2.3", Weight=0)]})
    counts = collections.Counter(ask(kumo, "www.weights.test")[0] for _ in range(1000))
    assert set(counts) == {"192.0.2.1", "192.0.2.2"}, counts  # weight 0 is never chosen while others are healthy
    # 3:1 over 1,000 answers: 750 expected, 5 standard deviations (about 69) either way.
    assert 680 <= counts["192.0.2.1"] <= 820, counts
    listed = r53.list_resource_record_sets(HostedZoneId=z)["ResourceRecordSets"]
    assert sorted((r["SetIdentifier"], r["Weight"]) for r in listed if "SetIdentifier" in r) == [("heavy", 3), ("light", 1), ("off", 0)]
    # Pages of one record set: the identifier says where the next page starts.
    seen, start = [], {"StartRecordName": "www.weights.test", "StartRecordType": "A"}
    while True:
        page = r53.list_resource_record_sets(HostedZoneId=z, MaxItems="1", **start)
        seen += [r.get("SetIdentifier") for r in page["ResourceRecordSets"]]
        if not page["IsTruncated"]:
            break
        start = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
        if "NextRecordIdentifier" in page:
            start["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    assert seen == ["heavy", "light", "off"]


def test_routing_policy_rules(kumo):
    r53 = kumo.client("route53")
    z = zone(r53, "rules.test")
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
            "Name": "a.rules.test", "Type": "A", "TTL": 30, "Weight": 1, "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})
    assert e.value.response["Error"]["Code"] == "InvalidChangeBatch"
    assert "Missing field 'SetIdentifier'" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [routed("a.rules.test", "x", "192.0.2.1")]})
    assert "Expected exactly one of [Weight, Region, Failover" in e.value.response["Error"]["Message"]
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [routed("a.rules.test", "w", "192.0.2.1", Weight=1)]})
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [
            routed("a.rules.test", "m", "192.0.2.2", MultiValueAnswer=True)]})
    assert "cannot be created because a non multivalue answer rrset exists" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [routed(
            "a.rules.test", "h", "192.0.2.2", Weight=1, HealthCheckId="00000000-0000-0000-0000-000000000000")]})
    assert "no health check exists" in e.value.response["Error"]["Message"]


def test_failover_follows_a_real_health_check(start_kumo, health):
    kumo = start_kumo("--time-scale", "0.05")
    r53 = kumo.client("route53")
    hc = r53.create_health_check(CallerReference="primary-hc", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "127.0.0.1", "Port": health.port, "ResourcePath": "/health",
        "RequestInterval": 10, "FailureThreshold": 2})["HealthCheck"]
    assert hc["HealthCheckConfig"]["FailureThreshold"] == 2 and hc["HealthCheckVersion"] == 1
    # The same caller reference and configuration is the same health check; another configuration is refused.
    again = r53.create_health_check(CallerReference="primary-hc", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "127.0.0.1", "Port": health.port, "ResourcePath": "/health",
        "RequestInterval": 10, "FailureThreshold": 2})["HealthCheck"]
    assert again["Id"] == hc["Id"]
    with pytest.raises(ClientError) as e:
        r53.create_health_check(CallerReference="primary-hc", HealthCheckConfig={"Type": "TCP", "IPAddress": "127.0.0.1", "Port": 1})
    assert e.value.response["Error"]["Code"] == "HealthCheckAlreadyExists"

    z = zone(r53, "failover.test")
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [
        routed("app.failover.test", "main", "192.0.2.10", Failover="PRIMARY", HealthCheckId=hc["Id"]),
        routed("app.failover.test", "backup", "192.0.2.20", Failover="SECONDARY"),
        # An alias that evaluates its target's health fails over with the target's health check.
        routed("origin.failover.test", "only", "192.0.2.11", Weight=1, HealthCheckId=hc["Id"]),
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "site.failover.test", "Type": "A", "SetIdentifier": "main", "Failover": "PRIMARY",
                                                   "AliasTarget": {"HostedZoneId": z.split("/")[-1], "DNSName": "origin.failover.test",
                                                                   "EvaluateTargetHealth": True}}},
        routed("site.failover.test", "backup", "192.0.2.21", Failover="SECONDARY")]})
    assert wait_for(lambda: "Success: HTTP Status Code 200" in json.dumps(
        r53.get_health_check_status(HealthCheckId=hc["Id"])["HealthCheckObservations"], default=str), timeout=20)
    assert ask(kumo, "app.failover.test") == ["192.0.2.10"]
    assert ask(kumo, "site.failover.test") == ["192.0.2.11"]

    health.stop()
    assert wait_for(lambda: ask(kumo, "app.failover.test") == ["192.0.2.20"], timeout=20)
    assert ask(kumo, "site.failover.test") == ["192.0.2.21"]
    reason = r53.get_health_check_last_failure_reason(HealthCheckId=hc["Id"])["HealthCheckObservations"][0]
    assert reason["StatusReport"]["Status"].startswith("Failure")
    assert dig(kumo, "app.failover.test", "+short").strip() == "192.0.2.20"

    health.start()
    assert wait_for(lambda: ask(kumo, "app.failover.test") == ["192.0.2.10"], timeout=20)

    # In use by a record set: it cannot be deleted; versions guard updates.
    with pytest.raises(ClientError) as e:
        r53.delete_health_check(HealthCheckId=hc["Id"])
    assert e.value.response["Error"]["Code"] == "HealthCheckInUse"
    with pytest.raises(ClientError) as e:
        r53.update_health_check(HealthCheckId=hc["Id"], HealthCheckVersion=7, FailureThreshold=1)
    assert e.value.response["Error"]["Code"] == "HealthCheckVersionMismatch"
    updated = r53.update_health_check(HealthCheckId=hc["Id"], HealthCheckVersion=1, FailureThreshold=1)["HealthCheck"]
    assert updated["HealthCheckVersion"] == 2 and updated["HealthCheckConfig"]["FailureThreshold"] == 1
    assert r53.get_health_check_count()["HealthCheckCount"] == 1
    assert [h["Id"] for h in r53.list_health_checks()["HealthChecks"]] == [hc["Id"]]
    with pytest.raises(ClientError) as e:
        r53.get_health_check(HealthCheckId="11111111-2222-3333-4444-555555555555")
    assert e.value.response["Error"]["Code"] == "NoSuchHealthCheck"


def test_multivalue_answers_only_healthy_values(start_kumo, health):
    kumo = start_kumo("--time-scale", "0.05")
    r53 = kumo.client("route53")
    good = r53.create_health_check(CallerReference="good", HealthCheckConfig={
        "Type": "HTTP_STR_MATCH", "IPAddress": "127.0.0.1", "Port": health.port, "ResourcePath": "/health",
        "SearchString": "all good", "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    bad = r53.create_health_check(CallerReference="bad", HealthCheckConfig={
        "Type": "TCP", "IPAddress": "127.0.0.1", "Port": dead_port, "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
    z = zone(r53, "multi.test")
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [
        routed("m.multi.test", "one", "192.0.2.1", MultiValueAnswer=True, HealthCheckId=good),
        routed("m.multi.test", "two", "192.0.2.2", MultiValueAnswer=True, HealthCheckId=bad),
        routed("m.multi.test", "three", "192.0.2.3", MultiValueAnswer=True)]})
    assert wait_for(lambda: ask(kumo, "m.multi.test") == ["192.0.2.1", "192.0.2.3"], timeout=20)
    status = r53.get_health_check_status(HealthCheckId=bad)["HealthCheckObservations"][0]["StatusReport"]["Status"]
    assert status.startswith("Failure")


def test_geolocation_and_latency_use_the_client_subnet(start_kumo):
    kumo = start_kumo("--dns-client-locations", LOCATIONS)
    r53 = kumo.client("route53")
    z = zone(r53, "geo.test")
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [
        routed("www.geo.test", "germany", "192.0.2.10", GeoLocation={"CountryCode": "DE"}),
        routed("www.geo.test", "north-america", "192.0.2.20", GeoLocation={"ContinentCode": "NA"}),
        routed("www.geo.test", "california", "192.0.2.21", GeoLocation={"CountryCode": "US", "SubdivisionCode": "CA"}),
        routed("www.geo.test", "default", "192.0.2.30", GeoLocation={"CountryCode": "*"}),
        routed("api.geo.test", "eu", "198.51.100.1", Region="eu-west-1"),
        routed("api.geo.test", "us", "198.51.100.2", Region="us-east-1"),
        routed("api.geo.test", "ap", "198.51.100.3", Region="ap-southeast-1")]})
    assert ask(kumo, "www.geo.test", subnet="10.1.4.0") == ["192.0.2.10"]
    assert ask(kumo, "www.geo.test", subnet="10.2.4.0") == ["192.0.2.21"]  # the subdivision beats the continent
    assert ask(kumo, "www.geo.test", subnet="10.3.4.0") == ["192.0.2.30"]  # Asia has no record: the default
    assert ask(kumo, "www.geo.test") == ["192.0.2.30"]  # loopback is nowhere in the map
    # dig sends the subnet too, and sees it echoed with its scope.
    out = dig(kumo, "www.geo.test", "+subnet=10.1.7.0/24")
    assert "CLIENT-SUBNET: 10.1.7.0/24/24" in out and "192.0.2.10" in out
    assert ask(kumo, "api.geo.test", subnet="10.1.0.0") == ["198.51.100.1"]
    assert ask(kumo, "api.geo.test", subnet="10.3.0.0") == ["198.51.100.3"]  # same part of the world (ap-)
    assert ask(kumo, "api.geo.test") == ["198.51.100.2"]  # unplaced clients go to Kumo's region

    answer = json.loads(aws_cli(kumo, "route53", "test-dns-answer", "--hosted-zone-id", z, "--record-name", "www.geo.test",
                                "--record-type", "A", "--edns0-client-subnet-ip", "10.2.0.1", "--edns0-client-subnet-mask", "24").stdout)
    assert answer["RecordData"] == ["192.0.2.21"] and answer["ResponseCode"] == "NOERROR" and answer["Protocol"] == "UDP"
    missing = json.loads(aws_cli(kumo, "route53", "test-dns-answer", "--hosted-zone-id", z, "--record-name", "nope.geo.test",
                                 "--record-type", "A").stdout)
    assert missing["ResponseCode"] == "NXDOMAIN" and missing["RecordData"] == []


def simple(name, rtype, values, ttl=60):
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}}


def test_delegation_and_cname_chains(kumo):
    r53 = kumo.client("route53")
    parent = zone(r53, "parent.test")
    other = zone(r53, "other.test")
    r53.change_resource_record_sets(HostedZoneId=parent, ChangeBatch={"Changes": [
        simple("sub.parent.test", "NS", ["ns1.sub.parent.test", "ns.elsewhere.example"]),
        simple("ns1.sub.parent.test", "A", ["192.0.2.53"]),
        simple("a.parent.test", "CNAME", ["b.parent.test"]),
        simple("b.parent.test", "CNAME", ["c.other.test"]),
        simple("sip.parent.test", "NAPTR", ['100 10 "U" "E2U+sip" "!^.*$!sip:info@parent.test!" .']),
        simple("sub.parent.test", "DS", ["60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"])]})
    r53.change_resource_record_sets(HostedZoneId=other, ChangeBatch={"Changes": [simple("c.other.test", "A", ["192.0.2.77"])]})
    # Below the cut: a referral — no answer, not authoritative, the NS set in authority and the glue address.
    out = dig(kumo, "www.sub.parent.test", "A")
    flags = out.split("flags:")[1].split(";")[0]
    assert "status: NOERROR" in out and " aa" not in flags and "ANSWER: 0" in out
    assert "sub.parent.test.\t60\tIN\tNS\tns1.sub.parent.test." in out
    assert "ns1.sub.parent.test.\t60\tIN\tA\t192.0.2.53" in out
    assert dig(kumo, "sip.parent.test", "NAPTR", "+short").strip() == '100 10 "U" "E2U+sip" "!^.*$!sip:info@parent.test!" .'
    # DS records of a delegation are answered by the parent, authoritatively.
    ds = dig(kumo, "sub.parent.test", "DS")
    assert "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118" in ds and " aa" in ds.split("flags:")[1].split(";")[0]
    # A chain of CNAMEs is followed through Kumo's zones to the address.
    chain = dig(kumo, "a.parent.test", "A", "+noall", "+answer")
    assert "CNAME\tb.parent.test." in chain and "CNAME\tc.other.test." in chain and "A\t192.0.2.77" in chain


def test_private_zone_answers_only_its_vpcs_instances(kumo):
    r53, ec2 = kumo.client("route53"), kumo.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    created = r53.create_hosted_zone(Name="internal.corp", CallerReference="private",
                                     VPC={"VPCRegion": "us-east-1", "VPCId": vpc}, HostedZoneConfig={"PrivateZone": True})
    z = created["HostedZone"]["Id"]
    assert created["HostedZone"]["Config"]["PrivateZone"] and created["VPC"]["VPCId"] == vpc and "DelegationSet" not in created
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [simple("db.internal.corp", "A", ["10.0.0.5"])]})
    assert r53.get_hosted_zone(Id=z)["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": vpc}]
    assert [s["Name"] for s in r53.list_hosted_zones_by_vpc(VPCId=vpc, VPCRegion="us-east-1")["HostedZoneSummaries"]] == ["internal.corp."]

    # Outside the VPC the zone does not exist.
    assert "status: REFUSED" in dig(kumo, "db.internal.corp", "A")
    # An instance of the VPC asks from its own address and gets the private answer.
    script = """#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10; do
  echo "answer: $(dig -b "$KUMO_BIND_ADDRESS" @127.0.0.1 -p %d +time=1 +tries=1 +short db.internal.corp A)"
  sleep 0.5
done
sleep 30
""" % kumo.dns_port
    iid = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, UserData=script)["Instances"][0]["InstanceId"]

    def answered():
        out = ec2.get_console_output(InstanceId=iid).get("Output", "")
        return "answer: 10.0.0.5" in out
    assert wait_for(answered, timeout=30)
    ec2.terminate_instances(InstanceIds=[iid])

    public = zone(r53, "public.test")
    with pytest.raises(ClientError) as e:
        r53.associate_vpc_with_hosted_zone(HostedZoneId=public, VPC={"VPCRegion": "us-east-1", "VPCId": vpc})
    assert e.value.response["Error"]["Code"] == "PublicZoneVPCAssociation"
    with pytest.raises(ClientError) as e:
        r53.disassociate_vpc_from_hosted_zone(HostedZoneId=z, VPC={"VPCRegion": "us-east-1", "VPCId": vpc})
    assert e.value.response["Error"]["Code"] == "LastVPCAssociation"
    with pytest.raises(ClientError) as e:
        r53.associate_vpc_with_hosted_zone(HostedZoneId=z, VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-0000000000000dead"})
    assert e.value.response["Error"]["Code"] == "InvalidVPCId"


def test_names_outside_kumo_go_to_the_upstream_resolver(start_kumo):
    """--dns-upstream: a tiny resolver answers example.org; Kumo relays it and still answers its own zones."""
    import dns.rrset
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    upstream.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = upstream.recvfrom(4096)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A", "203.0.113.9"))
            upstream.sendto(r.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        kumo = start_kumo("--dns-upstream", "127.0.0.1:%d" % upstream.getsockname()[1])
        assert dig(kumo, "example.org", "+short").strip() == "203.0.113.9"
        r53 = kumo.client("route53")
        z = zone(r53, "mine.test")
        r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [simple("www.mine.test", "A", ["192.0.2.8"])]})
        assert dig(kumo, "www.mine.test", "+short").strip() == "192.0.2.8"
    finally:
        stop.set()
        thread.join()
        upstream.close()


def test_https_health_checks_speak_tls(start_kumo, tmp_path):
    """HTTPS checks complete a TLS handshake (a self-signed certificate is fine, as on AWS) and read the answer."""
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=app.example", "-days", "1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    secure = Health(certificate=(cert, key))
    secure.start()
    try:
        kumo = start_kumo("--time-scale", "0.05")
        r53 = kumo.client("route53")
        https = r53.create_health_check(CallerReference="tls", HealthCheckConfig={
            "Type": "HTTPS_STR_MATCH", "IPAddress": "127.0.0.1", "Port": secure.port, "ResourcePath": "/health",
            "FullyQualifiedDomainName": "app.example", "SearchString": "all good", "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]
        assert https["HealthCheckConfig"]["EnableSNI"] is True

        def status():
            obs = r53.get_health_check_status(HealthCheckId=https["Id"])["HealthCheckObservations"]
            return obs[0]["StatusReport"]["Status"] if obs else ""
        assert wait_for(lambda: status().startswith("Success: HTTP Status Code 200"), timeout=20), status()
        # A plain-HTTP check against the TLS port fails: the answer is not HTTP.
        plain = r53.create_health_check(CallerReference="plain", HealthCheckConfig={
            "Type": "HTTP", "IPAddress": "127.0.0.1", "Port": secure.port, "ResourcePath": "/health",
            "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
        assert wait_for(lambda: (r53.get_health_check_status(HealthCheckId=plain)["HealthCheckObservations"] or [{}])[0]
                        .get("StatusReport", {}).get("Status", "").startswith("Failure"), timeout=20)
        secure.stop()
        assert wait_for(lambda: status().startswith("Failure"), timeout=20)
    finally:
        secure.stop()
