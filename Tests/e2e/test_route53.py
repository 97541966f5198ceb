"""Route 53 hosted zones through boto3 and the aws CLI, answered by Kumo's DNS server and checked with dig."""
import json
import subprocess

import dns.message
import dns.query
import dns.rcode
import pytest
from botocore.exceptions import ClientError

from conftest import aws_cli


def dig(kumo, *args):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(kumo.dns_port), "+time=2", "+tries=1", *args],
                       capture_output=True, text=True, timeout=20)
    return r.stdout


def change(r53, zone, action, name, rtype, values, ttl=60):
    return r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": {
        "Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}}]})


def test_zone_records_answered_by_dns(kumo):
    r53 = kumo.client("route53")
    created = r53.create_hosted_zone(Name="example.com", CallerReference="ref-1")
    zone = created["HostedZone"]["Id"]
    assert zone.startswith("/hostedzone/Z") and created["HostedZone"]["Name"] == "example.com."
    assert created["DelegationSet"]["NameServers"]
    with pytest.raises(ClientError) as e:
        r53.create_hosted_zone(Name="example.com", CallerReference="ref-1")
    assert e.value.response["Error"]["Code"] == "HostedZoneAlreadyExists"
    info = change(r53, zone, "CREATE", "www.example.com", "A", ["192.0.2.10", "192.0.2.11"])["ChangeInfo"]
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    change(r53, zone, "CREATE", "api.example.com", "CNAME", ["www.example.com"])
    change(r53, zone, "CREATE", "example.com", "MX", ["10 mail.example.com"])
    change(r53, zone, "CREATE", "example.com", "TXT", ['"v=spf1 -all"', '"hello world"'])
    change(r53, zone, "CREATE", "v6.example.com", "AAAA", ["2001:db8::1"])
    change(r53, zone, "CREATE", "*.apps.example.com", "A", ["192.0.2.99"])

    assert sorted(dig(kumo, "www.example.com", "A", "+short").split()) == ["192.0.2.10", "192.0.2.11"]
    answer = dig(kumo, "api.example.com", "A", "+noall", "+answer")
    assert "CNAME\twww.example.com." in answer and "192.0.2.10" in answer
    assert dig(kumo, "example.com", "MX", "+short").strip() == "10 mail.example.com."
    assert sorted(dig(kumo, "example.com", "TXT", "+short").strip().splitlines()) == ['"hello world"', '"v=spf1 -all"']
    assert dig(kumo, "v6.example.com", "AAAA", "+short").strip() == "2001:db8::1"
    assert dig(kumo, "anything.apps.example.com", "A", "+short").strip() == "192.0.2.99"
    full = dig(kumo, "www.example.com", "A")
    assert "status: NOERROR" in full and " aa" in full.split("flags:")[1].split(";")[0]
    missing = dig(kumo, "nope.example.com", "A")
    assert "status: NXDOMAIN" in missing and "SOA" in missing
    nodata = dig(kumo, "www.example.com", "MX")
    assert "status: NOERROR" in nodata and "ANSWER: 0" in nodata
    assert "status: REFUSED" in dig(kumo, "example.org", "A")

    # UPSERT changes the answer at once; DELETE must match; a batch with an error changes nothing.
    change(r53, zone, "UPSERT", "www.example.com", "A", ["192.0.2.20"])
    assert dig(kumo, "www.example.com", "A", "+short").split() == ["192.0.2.20"]
    with pytest.raises(ClientError) as e:
        change(r53, zone, "CREATE", "www.example.com", "A", ["192.0.2.30"])
    assert e.value.response["Error"]["Code"] == "InvalidChangeBatch" and "already exists" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        change(r53, zone, "DELETE", "www.example.com", "A", ["192.0.2.99"])
    assert "do not match" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        change(r53, zone, "CREATE", "www.other.net", "A", ["192.0.2.1"])
    assert "not permitted in zone" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {"Name": "new.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.5"}]}},
            {"Action": "DELETE", "ResourceRecordSet": {"Name": "gone.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.6"}]}}]})
    assert "status: NXDOMAIN" in dig(kumo, "new.example.com", "A")
    names = [(r["Name"], r["Type"]) for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]]
    assert names[:2] == [("example.com.", "MX"), ("example.com.", "NS")] and ("www.example.com.", "A") in names
    with pytest.raises(ClientError) as e:
        r53.delete_hosted_zone(Id=zone)
    assert e.value.response["Error"]["Code"] == "HostedZoneNotEmpty"
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id="/hostedzone/ZNOPE")
    assert e.value.response["Error"]["Code"] == "NoSuchHostedZone"
    # Names are case-insensitive and the answer echoes the question's case.
    assert "WWW.Example.COM.\t60\tIN\tA\t192.0.2.20" in dig(kumo, "WWW.Example.COM", "A", "+noall", "+answer")
    # An answer too big for plain UDP is truncated (TC) instead of sent whole.
    change(r53, zone, "CREATE", "big.example.com", "TXT", ['"%s"' % ("x" * 200 + str(i)) for i in range(12)])
    small = dig(kumo, "big.example.com", "TXT", "+noedns", "+ignore")
    assert " tc" in small.split("flags:")[1].split(";")[0] and "ANSWER: 0" in small
    assert len(dig(kumo, "big.example.com", "TXT", "+bufsize=4096", "+short").splitlines()) == 12
    # Over TCP the whole answer comes; dig also retries a truncated UDP answer over TCP by itself.
    assert len(dig(kumo, "big.example.com", "TXT", "+tcp", "+short").splitlines()) == 12
    assert len(dig(kumo, "big.example.com", "TXT", "+noedns", "+short").splitlines()) == 12
    assert sorted(dig(kumo, "www.example.com", "+tcp", "+short").split()) == ["192.0.2.20"]
    assert r53.get_hosted_zone_count()["HostedZoneCount"] == 1
    r53.update_hosted_zone_comment(Id=zone, Comment="kept")
    assert r53.get_hosted_zone(Id=zone)["HostedZone"]["Config"]["Comment"] == "kept"
    assert [z["Name"] for z in r53.list_hosted_zones_by_name(DNSName="example.com")["HostedZones"]] == ["example.com."]


def ask(kumo, name, rtype="A"):
    """One UDP query as a stub resolver sends it (random id, EDNS, no cookie): repeated questions are
    byte-for-byte the same but for the id, so Kumo answers them from the replies it keeps."""
    q = dns.message.make_query(name, rtype, use_edns=0)
    return dns.query.udp(q, "127.0.0.1", port=kumo.dns_port, timeout=2)


def test_repeated_questions_see_every_change(kumo):
    r53 = kumo.client("route53")
    zone = r53.create_hosted_zone(Name="kept.test", CallerReference="kept")["HostedZone"]["Id"]
    change(r53, zone, "CREATE", "www.kept.test", "A", ["192.0.2.1"])
    for _ in range(3):
        assert [r.to_text() for rrset in ask(kumo, "www.kept.test").answer for r in rrset] == ["192.0.2.1"]
    # The same question in another case: the kept reply echoes this query's spelling.
    shouted = ask(kumo, "WWW.Kept.TEST")
    assert shouted.question[0].name.to_text() == "WWW.Kept.TEST." and shouted.answer[0].name.to_text() == "WWW.Kept.TEST."
    change(r53, zone, "UPSERT", "www.kept.test", "A", ["192.0.2.2"])
    assert [r.to_text() for rrset in ask(kumo, "www.kept.test").answer for r in rrset] == ["192.0.2.2"]
    assert ask(kumo, "new.kept.test").rcode() == dns.rcode.NXDOMAIN
    change(r53, zone, "CREATE", "new.kept.test", "A", ["192.0.2.3"])
    assert [r.to_text() for rrset in ask(kumo, "new.kept.test").answer for r in rrset] == ["192.0.2.3"]
    change(r53, zone, "DELETE", "new.kept.test", "A", ["192.0.2.3"])
    assert ask(kumo, "new.kept.test").rcode() == dns.rcode.NXDOMAIN


def test_kumo_service_names_resolve_to_the_edge(kumo):
    assert dig(kumo, "my-bucket.s3.localhost", "+short").strip() == "127.0.0.1"
    assert dig(kumo, "sqs.us-east-1.localhost", "A", "+short").strip() == "127.0.0.1"


def test_cli_and_zone_lifecycle(kumo):
    out = json.loads(aws_cli(kumo, "route53", "create-hosted-zone", "--name", "kumo.test", "--caller-reference", "cli-1").stdout)
    zone = out["HostedZone"]["Id"]
    batch = json.dumps({"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "app.kumo.test", "Type": "A", "TTL": 30, "ResourceRecords": [{"Value": "127.0.0.1"}]}}]})
    aws_cli(kumo, "route53", "change-resource-record-sets", "--hosted-zone-id", zone, "--change-batch", batch)
    assert dig(kumo, "app.kumo.test", "+short").strip() == "127.0.0.1"
    zones = json.loads(aws_cli(kumo, "route53", "list-hosted-zones").stdout)["HostedZones"]
    assert [z["Name"] for z in zones] == ["kumo.test."]
    delete = batch.replace('"CREATE"', '"DELETE"')
    aws_cli(kumo, "route53", "change-resource-record-sets", "--hosted-zone-id", zone, "--change-batch", delete)
    aws_cli(kumo, "route53", "delete-hosted-zone", "--id", zone)
    assert "status: REFUSED" in dig(kumo, "app.kumo.test")


def test_zones_survive_restart(start_kumo, data_dir):
    k = start_kumo(data_dir=data_dir)
    r53 = k.client("route53")
    zone = r53.create_hosted_zone(Name="durable.test", CallerReference="d")["HostedZone"]["Id"]
    change(r53, zone, "CREATE", "db.durable.test", "A", ["10.0.0.5"])
    k.stop()
    k2 = start_kumo(data_dir=data_dir)
    assert dig(k2, "db.durable.test", "+short").strip() == "10.0.0.5"
