"""ACM and the local certificate authority: certificates requested and imported with boto3 and
the aws CLI, checked with openssl, and presented by HTTPS load balancer listeners (SNI) that curl
reaches with the CA from `kumo ca export`."""
import json
import os
import subprocess

import botocore.exceptions
import pytest
import requests

from conftest import KUMO, aws_cli, wait_for
from origin import Origin
from test_elb import health, listener_port


def code(e):
    return e.value.response["Error"]["Code"]


def export_ca(kumo, path):
    pem = subprocess.run([KUMO, "ca", "export", "--data-dir", kumo.data_dir], capture_output=True, text=True, timeout=30, check=True).stdout
    with open(path, "w") as f:
        f.write(pem)
    return pem


def listener_address(kumo, name):
    return next(l["address"] for l in requests.get(kumo.url + "/_kumo/health", timeout=10).json()["listeners"] if l["name"] == name)


def curl_https(name, port, ca, path="/"):
    """curl to https://name:port through 127.0.0.1, verifying the certificate against `ca`."""
    return subprocess.run(["curl", "-sS", "--cacert", ca, "--resolve", "%s:%d:127.0.0.1" % (name, port), "https://%s:%d%s" % (name, port, path)],
                          capture_output=True, text=True, timeout=20)


def test_request_describe_list_and_verify(kumo, tmp_path):
    acm = kumo.client("acm")
    arn = acm.request_certificate(DomainName="www.example.com", SubjectAlternativeNames=["*.example.com", "www.example.com"],
                                  ValidationMethod="DNS", IdempotencyToken="site")["CertificateArn"]
    assert arn.startswith("arn:aws:acm:us-east-1:000000000000:certificate/")
    assert acm.request_certificate(DomainName="www.example.com", SubjectAlternativeNames=["*.example.com"], IdempotencyToken="site")["CertificateArn"] == arn
    c = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert c["Status"] == "ISSUED" and c["Type"] == "AMAZON_ISSUED" and c["KeyAlgorithm"] == "RSA-2048"
    assert c["SubjectAlternativeNames"] == ["www.example.com", "*.example.com"] and c["InUseBy"] == []
    record = c["DomainValidationOptions"][0]["ResourceRecord"]
    assert record["Type"] == "CNAME" and record["Name"].endswith(".www.example.com.") and record["Value"].endswith(".acm-validations.aws.")
    assert c["DomainValidationOptions"][1]["ValidationDomain"] == "example.com"

    ec = acm.request_certificate(DomainName="api.example.org", KeyAlgorithm="EC_prime256v1")["CertificateArn"]
    assert acm.describe_certificate(CertificateArn=ec)["Certificate"]["KeyAlgorithm"] == "EC-prime256v1"
    # ACM lists RSA-2048 certificates unless asked for other key types.
    assert [s["CertificateArn"] for s in acm.list_certificates()["CertificateSummaryList"]] == [arn]
    listed = acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]}, MaxItems=1)
    assert len(listed["CertificateSummaryList"]) == 1 and "NextToken" in listed
    assert acm.list_certificates(Includes={"keyTypes": ["EC_prime256v1"]})["CertificateSummaryList"][0]["DomainName"] == "api.example.org"

    # The certificate verifies against the root that `kumo ca export` prints, for each of its names.
    got = acm.get_certificate(CertificateArn=arn)
    ca = str(tmp_path / "ca.pem")
    assert export_ca(kumo, ca).strip() == got["CertificateChain"].strip()
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(got["Certificate"])
    for name in ["www.example.com", "shop.example.com"]:
        out = subprocess.run(["openssl", "verify", "-CAfile", ca, "-verify_hostname", name, str(leaf)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    assert subprocess.run(["openssl", "verify", "-CAfile", ca, "-verify_hostname", "example.net", str(leaf)], capture_output=True).returncode != 0

    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    out = json.loads(aws_cli(kumo, "acm", "describe-certificate", "--certificate-arn", ec).stdout)
    assert out["Certificate"]["DomainName"] == "api.example.org"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        acm.request_certificate(DomainName="not a domain")
    assert code(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        acm.describe_certificate(CertificateArn=arn[:-4] + "beef")
    assert code(e) == "ResourceNotFoundException"
    acm.delete_certificate(CertificateArn=ec)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        acm.get_certificate(CertificateArn=ec)
    assert code(e) == "ResourceNotFoundException"


def test_import_certificate_made_with_openssl(kumo, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                    "-subj", "/CN=imported.example.net", "-addext", "subjectAltName=DNS:imported.example.net,DNS:alt.example.net",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    acm = kumo.client("acm")
    arn = acm.import_certificate(Certificate=cert.read_bytes(), PrivateKey=key.read_bytes(), Tags=[{"Key": "from", "Value": "openssl"}])["CertificateArn"]
    c = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert c["Type"] == "IMPORTED" and c["Status"] == "ISSUED" and c["DomainName"] == "imported.example.net"
    assert c["SubjectAlternativeNames"] == ["imported.example.net", "alt.example.net"] and c["KeyAlgorithm"] == "EC-prime256v1"
    assert "ImportedAt" in c and "DomainValidationOptions" not in c
    out = json.loads(aws_cli(kumo, "acm", "get-certificate", "--certificate-arn", arn).stdout)
    assert out["Certificate"].strip() == cert.read_text().strip()
    # A key that is not the certificate's is refused.
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(other)], check=True)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        acm.import_certificate(Certificate=cert.read_bytes(), PrivateKey=other.read_bytes())
    assert code(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        acm.import_certificate(Certificate=b"not a certificate", PrivateKey=key.read_bytes())
    assert code(e) == "ValidationException"


def test_https_listener_presents_certificates_by_server_name(start_kumo, tmp_path):
    kumo = start_kumo("--time-scale", "0.05")
    acm, ec2, elb = kumo.client("acm"), kumo.client("ec2"), kumo.client("elbv2")
    origin = Origin()
    try:
        origin.set("/", b"hello over tls")
        subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
        lb = elb.create_load_balancer(Name="secure", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
        group = elb.create_target_group(Name="app", Protocol="HTTP", Port=origin.port, VpcId=subnets[0]["VpcId"], TargetType="ip",
                                        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": "127.0.0.1"}])
        api = acm.request_certificate(DomainName="api.example.com")["CertificateArn"]
        shop = acm.request_certificate(DomainName="*.shop.example.org", KeyAlgorithm="EC_prime256v1")["CertificateArn"]
        forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}]

        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443, DefaultActions=forward,
                                Certificates=[{"CertificateArn": api[:-4] + "beef"}])
        assert code(e) == "CertificateNotFound"
        listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443, DefaultActions=forward,
                                       Certificates=[{"CertificateArn": api}])["Listeners"][0]
        assert listener["SslPolicy"] and listener["Certificates"] == [{"CertificateArn": api}]
        elb.add_listener_certificates(ListenerArn=listener["ListenerArn"], Certificates=[{"CertificateArn": shop}])
        listed = elb.describe_listener_certificates(ListenerArn=listener["ListenerArn"])["Certificates"]
        assert sorted((c["CertificateArn"], c.get("IsDefault")) for c in listed) == sorted([(api, True), (shop, False)])
        assert wait_for(lambda: health(elb, group)["127.0.0.1"]["State"] == "healthy")

        ca = str(tmp_path / "ca.pem")
        export_ca(kumo, ca)

        def serving():
            port = listener_port(kumo, "elb secure:443")
            return port if port and curl_https("api.example.com", port, ca).stdout == "hello over tls" else None

        port = wait_for(serving)
        out = curl_https("api.example.com", port, ca)
        assert out.stdout == "hello over tls"
        sent = origin.last("/")[2]
        assert sent["X-Forwarded-Proto"] == "https" and sent["X-Forwarded-Port"] == "443"
        # SNI picks the certificate that covers the name; a name no certificate covers gets the default and fails to verify.
        assert wait_for(lambda: curl_https("cart.shop.example.org", port, ca).stdout == "hello over tls")
        bad = curl_https("www.example.net", port, ca)
        assert bad.returncode != 0 and "certificate" in bad.stderr.lower()

        # ACM knows who uses a certificate and will not delete it while they do.
        assert acm.describe_certificate(CertificateArn=shop)["Certificate"]["InUseBy"] == [lb["LoadBalancerArn"]]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            acm.delete_certificate(CertificateArn=shop)
        assert code(e) == "ResourceInUseException"
        elb.remove_listener_certificates(ListenerArn=listener["ListenerArn"], Certificates=[{"CertificateArn": shop}])
        acm.delete_certificate(CertificateArn=shop)

        # The CA survives a restart: the same root, still trusted.
        first = open(ca).read()
        kumo.stop()
        kumo = start_kumo("--time-scale", "0.05", data_dir=kumo.data_dir)
        assert export_ca(kumo, str(tmp_path / "again.pem")) == first
        assert wait_for(serving)
        assert listener_address(kumo, "elb secure:443").startswith("https://")
    finally:
        origin.close()


def test_the_edge_port_speaks_https_too(kumo, tmp_path):
    import boto3
    import botocore.config

    from test_cloudfront import config, distribution, http_origin

    ca = str(tmp_path / "ca.pem")
    export_ca(kumo, ca)
    port = int(kumo.url.rsplit(":", 1)[1])
    https = "https://localhost:%d" % port
    out = subprocess.run(["curl", "-sS", "--cacert", ca, https + "/_kumo/health"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and json.loads(out.stdout)["status"] == "running"
    # Every AWS API answers over TLS on the same port: the aws CLI and boto3 verify the CA.
    env_out = aws_cli(kumo, "--endpoint-url", https, "--ca-bundle", ca, "sts", "get-caller-identity")
    assert json.loads(env_out.stdout)["Account"] == "000000000000"
    s3 = boto3.client("s3", endpoint_url="https://127.0.0.1:%d" % port, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test", verify=ca, config=botocore.config.Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="over-tls")
    s3.put_object(Bucket="over-tls", Key="a.txt", Body=b"sealed")
    assert s3.get_object(Bucket="over-tls", Key="a.txt")["Body"].read() == b"sealed"
    # URLs in answers use the scheme the client used.
    sqs = boto3.client("sqs", endpoint_url="https://127.0.0.1:%d" % port, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test", verify=ca)
    assert sqs.create_queue(QueueName="over-tls")["QueueUrl"].startswith("https://127.0.0.1:%d/" % port)

    # CloudFront: redirect-to-https sends plain viewers to the https URL, which serves them.
    origin = Origin()
    try:
        origin.set("/page", b"secure page")
        acm = kumo.client("acm")
        cert = acm.request_certificate(DomainName="www.example.com")["CertificateArn"]
        cfg = config([http_origin(origin)], ref="tls", Aliases={"Quantity": 2, "Items": ["www.example.com", "shop.example.com"]},
                     ViewerCertificate={"ACMCertificateArn": cert, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"})
        cfg["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = "redirect-to-https"
        d, viewer, _ = distribution(kumo, cfg)
        moved = viewer.get("/page?x=1")
        domain = d["DomainName"]
        assert moved.status_code == 301 and moved.headers["Location"] == "https://%s/page?x=1" % domain
        assert curl_https(domain, port, ca, "/page").stdout == "secure page"
        # An alias gets the ACM certificate its distribution names...
        assert curl_https("www.example.com", port, ca, "/page").stdout == "secure page"
        # ...which does not cover the other alias, so that one fails to verify; a name Kumo does not serve gets the default.
        assert curl_https("shop.example.com", port, ca, "/page").returncode != 0
        assert curl_https("unknown.example.net", port, ca, "/page").returncode != 0
    finally:
        origin.close()
