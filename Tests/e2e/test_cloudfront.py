"""CloudFront end to end: the distribution API with boto3 and the aws CLI, and the caching
edge driven with real HTTP requests (curl and requests) in front of S3 and HTTP origins."""
import json
import warnings
import subprocess
import threading
import time

import botocore.exceptions
import pytest
import requests

from conftest import aws_cli, wait_for
from origin import Origin

OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
SIMPLE_CORS = "60669652-455b-4ae9-85a4-c4c02393f86c"


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def s3_origin(bucket, oac=None, oid="s3"):
    o = {"Id": oid, "DomainName": "%s.s3.us-east-1.amazonaws.com" % bucket, "S3OriginConfig": {"OriginAccessIdentity": ""}}
    if oac:
        o["OriginAccessControlId"] = oac
    return o


def http_origin(origin, oid="app", headers=None):
    o = {"Id": oid, "DomainName": "127.0.0.1",
         "CustomOriginConfig": {"HTTPPort": origin.port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}
    if headers:
        o["CustomHeaders"] = {"Quantity": len(headers), "Items": [{"HeaderName": k, "HeaderValue": v} for k, v in headers.items()]}
    return o


def config(origins, ref="ref", target=None, policy=OPTIMIZED, **extra):
    c = {
        "CallerReference": ref, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": len(origins), "Items": origins},
        "DefaultCacheBehavior": {"TargetOriginId": target or origins[0]["Id"], "ViewerProtocolPolicy": "allow-all", "CachePolicyId": policy},
    }
    c.update(extra)
    return c


class Viewer:
    """Requests to a distribution through the edge, by its domain name (Host header)."""

    def __init__(self, kumo, host):
        self.kumo, self.host = kumo, host

    def get(self, path, method="GET", **headers):
        headers = dict(headers)
        headers.setdefault("Host", self.host)
        return requests.request(method, self.kumo.url + path, headers={k.replace("_", "-"): v for k, v in headers.items()},
                                allow_redirects=False, timeout=10)


def distribution(kumo, cfg):
    d = kumo.client("cloudfront").create_distribution(DistributionConfig=cfg)
    return d["Distribution"], Viewer(kumo, d["Distribution"]["DomainName"]), d["ETag"]


def allow_distribution(s3, bucket, arn):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::%s/*" % bucket, "Condition": {"StringEquals": {"AWS:SourceArn": arn}}}]}))


def test_distribution_lifecycle_and_errors(start_kumo, origin):
    kumo = start_kumo("--time-scale", "0.02")
    cf = kumo.client("cloudfront")
    cfg = config([http_origin(origin)], Aliases={"Quantity": 1, "Items": ["www.example.test"]})
    created = cf.create_distribution(DistributionConfig=cfg)
    d = created["Distribution"]
    assert d["Id"].startswith("E") and len(d["Id"]) == 14
    assert d["DomainName"] == d["Id"].lower() + ".cloudfront.localhost"
    assert d["ARN"] == "arn:aws:cloudfront::000000000000:distribution/" + d["Id"]
    assert d["Status"] == "InProgress"
    assert created["Location"].endswith("/distribution/" + d["Id"])
    etag = created["ETag"]
    assert wait_for(lambda: cf.get_distribution(Id=d["Id"])["Distribution"]["Status"] == "Deployed")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.create_distribution(DistributionConfig=cfg)
    assert e.value.response["Error"]["Code"] == "DistributionAlreadyExists"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.create_distribution(DistributionConfig=dict(cfg, CallerReference="other"))
    assert e.value.response["Error"]["Code"] == "CNAMEAlreadyExists"
    bad = config([http_origin(origin)], ref="bad", target="nope")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.create_distribution(DistributionConfig=bad)
    assert e.value.response["Error"]["Code"] == "NoSuchOrigin"
    bad = config([http_origin(origin)], ref="bad2", policy="00000000-0000-0000-0000-000000000000")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.create_distribution(DistributionConfig=bad)
    assert e.value.response["Error"]["Code"] == "NoSuchCachePolicy"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.get_distribution(Id="E000000000000")
    assert e.value.response["Error"]["Code"] == "NoSuchDistribution"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    got = cf.get_distribution_config(Id=d["Id"])
    assert got["ETag"] == etag
    new = dict(got["DistributionConfig"], Comment="changed", Enabled=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.update_distribution(Id=d["Id"], DistributionConfig=new, IfMatch="WRONG")
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.delete_distribution(Id=d["Id"], IfMatch=etag)
    assert e.value.response["Error"]["Code"] == "DistributionNotDisabled"
    updated = cf.update_distribution(Id=d["Id"], DistributionConfig=new, IfMatch=etag)
    assert updated["ETag"] != etag
    assert updated["Distribution"]["DistributionConfig"]["Comment"] == "changed"
    listed = cf.list_distributions()["DistributionList"]
    assert listed["Quantity"] == 1 and listed["Items"][0]["Id"] == d["Id"] and listed["Items"][0]["Enabled"] is False

    arn = d["ARN"]
    cf.tag_resource(Resource=arn, Tags={"Items": [{"Key": "team", "Value": "web"}]})
    assert cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"] == [{"Key": "team", "Value": "web"}]
    cf.untag_resource(Resource=arn, TagKeys={"Items": ["team"]})
    assert cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"] == []

    assert wait_for(lambda: cf.get_distribution(Id=d["Id"])["Distribution"]["Status"] == "Deployed")
    cf.delete_distribution(Id=d["Id"], IfMatch=updated["ETag"])
    assert cf.list_distributions()["DistributionList"]["Quantity"] == 0


def test_cache_hit_stale_after_overwrite_and_invalidation_with_the_cli(kumo):
    s3, cf = kumo.client("s3"), kumo.client("cloudfront")
    s3.create_bucket(Bucket="site")
    s3.put_object(Bucket="site", Key="app.js", Body=b"console.log(1)", ContentType="application/javascript")
    oac = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "site-oac", "SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"})
    d, viewer, _ = distribution(kumo, config([s3_origin("site", oac["OriginAccessControl"]["Id"])]))
    allow_distribution(s3, "site", d["ARN"])

    first = viewer.get("/app.js")
    assert first.status_code == 200 and first.content == b"console.log(1)"
    assert first.headers["X-Cache"] == "Miss from cloudfront"
    assert first.headers["X-Amz-Cf-Pop"] == "IAD89-C2" and first.headers["X-Amz-Cf-Id"]
    assert first.headers["Via"].endswith(".cloudfront.net (CloudFront)")
    second = viewer.get("/app.js")
    assert second.headers["X-Cache"] == "Hit from cloudfront" and "Age" in second.headers

    # The classic surprise: the file changed in S3, CloudFront still serves the copy it has.
    s3.put_object(Bucket="site", Key="app.js", Body=b"console.log(2)")
    assert viewer.get("/app.js").content == b"console.log(1)"

    out = aws_cli(kumo, "cloudfront", "create-invalidation", "--distribution-id", d["Id"], "--paths", "/*")
    inv = json.loads(out.stdout)["Invalidation"]
    assert inv["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    fresh = viewer.get("/app.js")
    assert fresh.content == b"console.log(2)" and fresh.headers["X-Cache"] == "Miss from cloudfront"
    assert wait_for(lambda: cf.get_invalidation(DistributionId=d["Id"], Id=inv["Id"])["Invalidation"]["Status"] == "Completed")
    listed = cf.list_invalidations(DistributionId=d["Id"])["InvalidationList"]
    assert [i["Id"] for i in listed["Items"]] == [inv["Id"]]

    # Same CallerReference and paths: the same invalidation back.
    batch = {"Paths": {"Quantity": 1, "Items": ["/app.js"]}, "CallerReference": "once"}
    a = cf.create_invalidation(DistributionId=d["Id"], InvalidationBatch=batch)["Invalidation"]["Id"]
    b = cf.create_invalidation(DistributionId=d["Id"], InvalidationBatch=batch)["Invalidation"]["Id"]
    assert a == b
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.create_invalidation(DistributionId=d["Id"], InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/other"]}, "CallerReference": "once"})
    assert e.value.response["Error"]["Code"] == "InvalidationBatchAlreadyExists"

    # A range is served from the cached copy.
    part = viewer.get("/app.js", Range="bytes=0-6")
    assert part.status_code == 206 and part.content == b"console" and part.headers["Content-Range"] == "bytes 0-6/14"

    # curl sees the same edge.
    out = subprocess.run(["curl", "-si", "-H", "Host: " + d["DomainName"], kumo.url + "/app.js"], capture_output=True, text=True, timeout=10)
    assert "x-cache: hit from cloudfront" in out.stdout.lower()


def test_origin_access_control_private_bucket(kumo):
    s3, cf = kumo.client("s3"), kumo.client("cloudfront")
    s3.create_bucket(Bucket="private")
    s3.put_object(Bucket="private", Key="secret.txt", Body=b"only via cloudfront")
    oac = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "oac", "SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"})["OriginAccessControl"]
    d, viewer, _ = distribution(kumo, config([s3_origin("private", oac["Id"])], policy=DISABLED))
    other, other_viewer, _ = distribution(kumo, config([s3_origin("private", oac["Id"])], ref="other", policy=DISABLED))

    # No policy yet: the bucket refuses CloudFront too.
    assert viewer.get("/secret.txt").status_code == 403
    allow_distribution(s3, "private", d["ARN"])
    ok = viewer.get("/secret.txt")
    assert ok.status_code == 200 and ok.content == b"only via cloudfront"
    # Directly (anonymous) and through a distribution the policy does not name: denied.
    assert requests.get(kumo.url + "/private/secret.txt", timeout=10).status_code == 403
    assert other_viewer.get("/secret.txt").status_code == 403
    # CloudFront reaches S3 with the viewer's protocol: a policy that refuses plain HTTP refuses an
    # HTTP viewer and serves an HTTPS one.
    s3.put_bucket_policy(Bucket="private", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::private/*", "Condition": {"StringEquals": {"AWS:SourceArn": d["ARN"]}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::private/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    assert viewer.get("/secret.txt").status_code == 403
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        secure = requests.get(kumo.url.replace("http://", "https://") + "/secret.txt", headers={"Host": d["DomainName"]}, verify=False, timeout=10)
    assert secure.status_code == 200 and secure.content == b"only via cloudfront"

    listed = cf.list_origin_access_controls()["OriginAccessControlList"]
    assert [o["Id"] for o in listed["Items"]] == [oac["Id"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.delete_origin_access_control(Id=oac["Id"], IfMatch=cf.get_origin_access_control(Id=oac["Id"])["ETag"])
    assert e.value.response["Error"]["Code"] == "OriginAccessControlInUse"


def test_spa_error_responses_default_root_and_website_origin(kumo):
    s3, cf = kumo.client("s3"), kumo.client("cloudfront")
    s3.create_bucket(Bucket="spa")
    s3.put_object(Bucket="spa", Key="index.html", Body=b"<div id=app></div>", ContentType="text/html")
    oac = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "spa", "SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"})["OriginAccessControl"]
    errors = {"Quantity": 2, "Items": [
        {"ErrorCode": 403, "ResponsePagePath": "/index.html", "ResponseCode": "200", "ErrorCachingMinTTL": 0},
        {"ErrorCode": 404, "ResponsePagePath": "/index.html", "ResponseCode": "200", "ErrorCachingMinTTL": 0}]}
    d, viewer, _ = distribution(kumo, config([s3_origin("spa", oac["Id"])], DefaultRootObject="index.html", CustomErrorResponses=errors))
    allow_distribution(s3, "spa", d["ARN"])
    root = viewer.get("/")
    assert root.status_code == 200 and root.content == b"<div id=app></div>"
    deep = viewer.get("/users/42/settings")
    assert deep.status_code == 200 and deep.content == b"<div id=app></div>"
    assert deep.headers["X-Cache"] == "Error from cloudfront"

    # A website endpoint origin (custom origin on the s3-website name).
    s3.create_bucket(Bucket="www")
    s3.put_bucket_website(Bucket="www", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    s3.delete_public_access_block(Bucket="www")
    s3.put_bucket_policy(Bucket="www", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::www/*"}]}))
    s3.put_object(Bucket="www", Key="docs/index.html", Body=b"docs", ContentType="text/html")
    site = {"Id": "web", "DomainName": "www.s3-website-us-east-1.amazonaws.com",
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}
    _, web, _ = distribution(kumo, config([site], ref="web"))
    page = web.get("/docs/")
    assert page.status_code == 200 and page.content == b"docs"


def test_ordered_behaviors_custom_origin_headers_and_policies(kumo, origin):
    s3 = kumo.client("s3")
    s3.create_bucket(Bucket="assets")
    s3.put_object(Bucket="assets", Key="logo.svg", Body=b"<svg/>")
    s3.delete_public_access_block(Bucket="assets")
    s3.put_bucket_policy(Bucket="assets", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::assets/*"}]}))
    origin.set("/api/users", b'{"users":[]}', headers={"Content-Type": "application/json", "Cache-Control": "max-age=600"})
    cfg = config([s3_origin("assets"), http_origin(origin, headers={"X-Origin-Secret": "s3cr3t"})], ref="ordered")
    cfg["CacheBehaviors"] = {"Quantity": 1, "Items": [{
        "PathPattern": "/api/*", "TargetOriginId": "app", "ViewerProtocolPolicy": "redirect-to-https",
        "CachePolicyId": DISABLED, "ResponseHeadersPolicyId": SIMPLE_CORS,
        "AllowedMethods": {"Quantity": 7, "Items": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                           "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}}]}
    d, viewer, _ = distribution(kumo, cfg)

    # /api/* needs HTTPS: plain HTTP is redirected.
    redirect = viewer.get("/api/users?page=2")
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == "https://%s/api/users?page=2" % d["DomainName"]

    cf = kumo.client("cloudfront")
    current = cf.get_distribution_config(Id=d["Id"])
    c = current["DistributionConfig"]
    c["CacheBehaviors"]["Items"][0]["ViewerProtocolPolicy"] = "allow-all"
    cf.update_distribution(Id=d["Id"], DistributionConfig=c, IfMatch=current["ETag"])

    for _ in range(2):
        r = viewer.get("/api/users", Origin="https://app.example")
        assert r.status_code == 200 and r.content == b'{"users":[]}'
        assert r.headers["X-Cache"] == "Miss from cloudfront"  # CachingDisabled
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert origin.count("/api/users") == 2
    _, _, sent, _ = origin.last("/api/users")
    assert sent["X-Origin-Secret"] == "s3cr3t" and sent["X-Forwarded-For"] == "127.0.0.1"
    assert sent["Host"] == "127.0.0.1:%d" % origin.port and "X-Amz-Cf-Id" in sent
    posted = viewer.get("/api/users", method="POST", Content_Type="application/json")
    assert posted.status_code == 200

    # Everything else comes from the bucket, cached.
    assert viewer.get("/logo.svg").headers["X-Cache"] == "Miss from cloudfront"
    assert viewer.get("/logo.svg").headers["X-Cache"] == "Hit from cloudfront"
    # POST is not allowed on the default behavior.
    assert viewer.get("/logo.svg", method="POST").status_code == 403


def test_collapsing_revalidation_and_stale_serving(start_kumo, origin):
    kumo = start_kumo("--time-scale", "0.1")
    origin.set("/slow", b"slow answer", headers={"Cache-Control": "max-age=60"}, delay=0.4)
    origin.set("/etag", b"versioned", headers={"Cache-Control": "max-age=5", "ETag": '"v1"'})
    origin.set("/swr", b"old", headers={"Cache-Control": "max-age=5, stale-while-revalidate=600"})
    origin.set("/sie", b"kept", headers={"Cache-Control": "max-age=5, stale-if-error=600"})
    policy = kumo.client("cloudfront").create_cache_policy(CachePolicyConfig={
        "Name": "origin-headers", "MinTTL": 0, "DefaultTTL": 0, "MaxTTL": 3600,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": False, "HeadersConfig": {"HeaderBehavior": "none"},
            "CookiesConfig": {"CookieBehavior": "none"}, "QueryStringsConfig": {"QueryStringBehavior": "none"}}})
    _, viewer, _ = distribution(kumo, config([http_origin(origin)], policy=policy["CachePolicy"]["Id"]))

    # Twenty concurrent misses for one key: one origin request.
    results = []
    threads = [threading.Thread(target=lambda: results.append(viewer.get("/slow"))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 20 and all(r.content == b"slow answer" for r in results)
    assert origin.count("/slow") == 1

    # Expired with an ETag: revalidated with If-None-Match; the 304 refreshes the copy.
    assert viewer.get("/etag").headers["X-Cache"] == "Miss from cloudfront"
    time.sleep(0.6)  # max-age=5 AWS seconds is 0.5 s at --time-scale 0.1
    refreshed = viewer.get("/etag")
    assert refreshed.headers["X-Cache"] == "RefreshHit from cloudfront" and refreshed.content == b"versioned"
    assert origin.last("/etag")[2]["If-None-Match"] == '"v1"'

    # stale-while-revalidate: the stale copy at once, one background refresh, then the new copy.
    viewer.get("/swr")
    origin.set("/swr", b"new", headers={"Cache-Control": "max-age=5, stale-while-revalidate=600"})
    time.sleep(0.6)
    stale = viewer.get("/swr")
    assert stale.content == b"old" and stale.headers["X-Cache"] == "Hit from cloudfront"
    assert wait_for(lambda: viewer.get("/swr").content == b"new")
    assert origin.count("/swr") == 2

    # stale-if-error: the origin fails, the expired copy is served.
    viewer.get("/sie")
    origin.set("/sie", b"broken", status=500)
    time.sleep(0.6)
    kept = viewer.get("/sie")
    assert kept.status_code == 200 and kept.content == b"kept"


def test_invalidation_reaches_every_edge_location(start_kumo, origin):
    kumo = start_kumo("--cloudfront-edges", "IAD89-C2,NRT57-P1,ICN54-C1")
    origin.set("/page", b"one", headers={"Cache-Control": "max-age=3600"})
    d, viewer, _ = distribution(kumo, config([http_origin(origin)]))
    for pop in ["IAD89-C2", "NRT57-P1", "ICN54-C1"]:
        r = viewer.get("/page", X_Kumo_Edge_Location=pop)
        assert r.headers["X-Amz-Cf-Pop"] == pop and r.headers["X-Cache"] == "Miss from cloudfront"
        assert viewer.get("/page", X_Kumo_Edge_Location=pop).headers["X-Cache"] == "Hit from cloudfront"
    assert origin.count("/page") == 3
    origin.set("/page", b"two", headers={"Cache-Control": "max-age=3600"})
    kumo.client("cloudfront").create_invalidation(
        DistributionId=d["Id"], InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/page"]}, "CallerReference": "all-edges"})
    for pop in ["IAD89-C2", "NRT57-P1", "ICN54-C1"]:
        r = viewer.get("/page", X_Kumo_Edge_Location=pop)
        assert r.content == b"two" and r.headers["X-Cache"] == "Miss from cloudfront"


def test_alias_origin_group_failover_and_managed_policies(kumo, origin):
    backup = Origin()
    try:
        origin.set("/status", b"primary down", status=503)
        backup.set("/status", b"from backup", headers={"Cache-Control": "no-store"})
        cfg = config([http_origin(origin, oid="primary"), http_origin(backup, oid="backup")], target="group",
                     Aliases={"Quantity": 1, "Items": ["cdn.example.test"]})
        cfg["OriginGroups"] = {"Quantity": 1, "Items": [{
            "Id": "group", "FailoverCriteria": {"StatusCodes": {"Quantity": 2, "Items": [500, 503]}},
            "Members": {"Quantity": 2, "Items": [{"OriginId": "primary"}, {"OriginId": "backup"}]}}]}
        distribution(kumo, cfg)
        r = requests.get(kumo.url + "/status", headers={"Host": "cdn.example.test"}, timeout=10)
        assert r.status_code == 200 and r.content == b"from backup"
        assert origin.count("/status") == 1 and backup.count("/status") == 1
    finally:
        backup.close()

    cf = kumo.client("cloudfront")
    managed = cf.list_cache_policies(Type="managed")["CachePolicyList"]["Items"]
    names = {p["CachePolicy"]["Id"]: p["CachePolicy"]["CachePolicyConfig"]["Name"] for p in managed}
    assert names[OPTIMIZED] == "Managed-CachingOptimized" and names[DISABLED] == "Managed-CachingDisabled"
    got = cf.get_cache_policy(Id=OPTIMIZED)["CachePolicy"]["CachePolicyConfig"]
    assert (got["MinTTL"], got["DefaultTTL"], got["MaxTTL"]) == (1, 86400, 31536000)
    assert "216adef6-5c7f-47e4-b989-5492eafa07d3" in [
        p["OriginRequestPolicy"]["Id"] for p in cf.list_origin_request_policies()["OriginRequestPolicyList"]["Items"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.get_cache_policy(Id="nope")
    assert e.value.response["Error"]["Code"] == "NoSuchCachePolicy"


def test_route53_alias_to_the_distribution_end_to_end(kumo, origin):
    origin.set("/", b"home via alias", headers={"Content-Type": "text/html"})
    d, _, _ = distribution(kumo, config([http_origin(origin)], ref="alias", Aliases={"Quantity": 1, "Items": ["www.shop.test"]}))
    r53 = kumo.client("route53")
    zone = r53.create_hosted_zone(Name="shop.test", CallerReference="z")["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "www.shop.test", "Type": "A",
        "AliasTarget": {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": d["DomainName"], "EvaluateTargetHealth": False}}}]})
    # The name resolves through Kumo's DNS server...
    dig = subprocess.run(["dig", "+short", "-p", str(kumo.dns_port), "@127.0.0.1", "www.shop.test", "A"],
                         capture_output=True, text=True, timeout=10)
    address = dig.stdout.strip()
    assert address == "127.0.0.1"
    # ...and curl, given that address for the name, reaches the distribution by its alias.
    out = subprocess.run(["curl", "-s", "-i", "--resolve", "www.shop.test:%d:%s" % (kumo.port, address),
                          "http://www.shop.test:%d/" % kumo.port], capture_output=True, text=True, timeout=10)
    assert "home via alias" in out.stdout and "x-cache: miss from cloudfront" in out.stdout.lower()


def test_compression_when_the_behavior_says_compress(kumo, origin):
    import gzip

    import brotli
    text = (b"function hello() { return 'kumo'; }\n" * 100)
    origin.set("/app.js", text, headers={"Content-Type": "application/javascript", "Cache-Control": "max-age=600", "ETag": '"v1-app"'})
    origin.set("/tiny.js", b"x=1", headers={"Content-Type": "application/javascript"})
    origin.set("/photo.jpg", bytes(range(256)) * 10, headers={"Content-Type": "image/jpeg"})
    cfg = config([http_origin(origin)], ref="gzip")
    cfg["DefaultCacheBehavior"]["Compress"] = True
    _, viewer, _ = distribution(kumo, cfg)
    raw = viewer.get("/app.js", Accept_Encoding="identity")
    assert "Content-Encoding" not in raw.headers and raw.content == text
    etag = raw.headers["ETag"]
    assert etag == '"v1-app"'

    def fetch(accept):
        r = requests.get(kumo.url + "/app.js", headers={"Host": viewer.host, "Accept-Encoding": accept}, stream=True, timeout=10)
        return r, r.raw.read()

    # The managed CachingOptimized policy enables both: Brotli when the viewer takes it, else gzip.
    r, body = fetch("gzip, br")
    assert r.headers["Content-Encoding"] == "br" and r.headers["Vary"] == "Accept-Encoding"
    assert r.headers["X-Cache"] == "Hit from cloudfront" and r.headers["ETag"] == "W/" + etag
    assert len(body) < len(text) // 5 and brotli.decompress(body) == text
    # The weak ETag still names the content: a conditional request gets 304.
    assert viewer.get("/app.js", Accept_Encoding="br", If_None_Match=r.headers["ETag"]).status_code == 304
    r, body = fetch("gzip;q=1.0, br;q=0")
    assert r.headers["Content-Encoding"] == "gzip" and len(body) < len(text) // 5 and gzip.decompress(body) == text
    assert origin.count("/app.js") == 1
    # Legacy cache settings compress with gzip only.
    legacy = config([http_origin(origin)], ref="gzip-legacy")
    legacy["DefaultCacheBehavior"] = {"TargetOriginId": legacy["Origins"]["Items"][0]["Id"], "ViewerProtocolPolicy": "allow-all",
                                      "Compress": True, "MinTTL": 0, "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}}
    _, old_style, _ = distribution(kumo, legacy)
    assert old_style.get("/app.js", Accept_Encoding="br, gzip").headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in old_style.get("/app.js", Accept_Encoding="br").headers
    # Too small, or not a compressible type: as the origin sent it.
    assert "Content-Encoding" not in viewer.get("/tiny.js", Accept_Encoding="gzip").headers
    assert "Content-Encoding" not in viewer.get("/photo.jpg", Accept_Encoding="gzip").headers
    # curl --compressed decodes it.
    out = subprocess.run(["curl", "-s", "--compressed", "-H", "Host: " + viewer.host, kumo.url + "/app.js"], capture_output=True, timeout=10)
    assert out.stdout == text


def test_standard_logs_are_delivered_to_the_bucket(start_kumo, origin):
    import gzip
    kumo = start_kumo("--time-scale", "0.05")
    s3, cf = kumo.client("s3"), kumo.client("cloudfront")
    origin.set("/page.html", b"<p>hi</p>", headers={"Content-Type": "text/html", "Cache-Control": "max-age=60"})
    logging = {"Enabled": True, "IncludeCookies": False, "Bucket": "cf-logs.s3.amazonaws.com", "Prefix": "edge/"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cf.create_distribution(DistributionConfig=config([http_origin(origin)], ref="nolog", Logging=logging))
    assert e.value.response["Error"]["Code"] == "InvalidArgument" and "doesn't exist" in e.value.response["Error"]["Message"]
    s3.create_bucket(Bucket="cf-logs")
    d, viewer, _ = distribution(kumo, config([http_origin(origin)], ref="logged", Logging=logging))
    assert viewer.get("/page.html").headers["X-Cache"] == "Miss from cloudfront"
    assert viewer.get("/page.html", User_Agent="test agent/1.0").headers["X-Cache"] == "Hit from cloudfront"
    assert viewer.get("/missing").status_code == 404

    def delivered():
        return s3.list_objects_v2(Bucket="cf-logs", Prefix="edge/").get("Contents")
    files = wait_for(delivered, timeout=20)
    assert files and files[0]["Key"].startswith("edge/%s." % d["Id"]) and files[0]["Key"].endswith(".gz")
    lines = []
    for f in files:
        lines += gzip.decompress(s3.get_object(Bucket="cf-logs", Key=f["Key"])["Body"].read()).decode().splitlines()
    assert lines[0] == "#Version: 1.0" and lines[1].startswith("#Fields: date time x-edge-location sc-bytes c-ip cs-method")
    rows = [l.split("\t") for l in lines if not l.startswith("#")]
    assert len(rows) == 3 and all(len(r) == 33 for r in rows)
    fields = lines[1][len("#Fields: "):].split(" ")
    by_path = {r[fields.index("cs-uri-stem")] + ":" + r[fields.index("x-edge-result-type")]: dict(zip(fields, r)) for r in rows}
    assert set(by_path) == {"/page.html:Miss", "/page.html:Hit", "/missing:Error"}
    hit = by_path["/page.html:Hit"]
    assert hit["sc-status"] == "200" and hit["cs-method"] == "GET" and hit["c-ip"] == "127.0.0.1"
    assert hit["cs(User-Agent)"] == "test%20agent/1.0" and hit["cs(Host)"] == d["DomainName"] and hit["sc-bytes"] == "9"


def test_hits_misses_and_api_calls_share_keep_alive_connections(kumo, origin):
    """Cache hits are answered in front of the edge's HTTP stack; a miss or an API call on the
    same connection goes to the full stack, and the answers still come back in order."""
    import socket
    origin.set("/a.txt", b"alpha", headers={"Content-Type": "text/plain", "Cache-Control": "max-age=600"})
    origin.set("/b.txt", b"bravo", headers={"Content-Type": "text/plain", "Cache-Control": "max-age=600"})
    d, viewer, _ = distribution(kumo, config([http_origin(origin)], ref="keepalive"))
    assert viewer.get("/a.txt").headers["X-Cache"] == "Miss from cloudfront"
    port = int(kumo.url.rsplit(":", 1)[1])

    def ask(sock, raw, count):
        sock.sendall(raw)
        data, answers = b"", []
        while len(answers) < count:
            chunk = sock.recv(65536)
            assert chunk, (data, answers)
            data += chunk
            while b"\r\n\r\n" in data:
                head, rest = data.split(b"\r\n\r\n", 1)
                fields = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")[1:]}
                length = 0 if b" 304 " in head.split(b"\r\n")[0] else int(fields.get(b"content-length", b"0"))
                if len(rest) < length:
                    break
                answers.append((head.split(b"\r\n")[0], fields, rest[:length]))
                data = rest[length:]
        return answers

    host = d["DomainName"].encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    # Two hits in one write.
    both = ask(s, b"GET /a.txt HTTP/1.1\r\nHost: %s\r\n\r\nGET /a.txt?x=1 HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host), 2)
    assert [a[2] for a in both] == [b"alpha", b"alpha"] and all(a[1][b"x-cache"] == b"Hit from cloudfront" for a in both)
    assert both[0][1][b"x-amz-cf-id"] != both[1][1][b"x-amz-cf-id"] and b"date" in both[0][1]
    # A conditional hit, then a miss and a hit behind it.
    etag = both[0][1].get(b"etag")
    if etag:
        assert ask(s, b"GET /a.txt HTTP/1.1\r\nHost: %s\r\nIf-None-Match: %s\r\n\r\n" % (host, etag), 1)[0][0].endswith(b"304 Not Modified")
    mixed = ask(s, b"GET /b.txt HTTP/1.1\r\nHost: %s\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host), 2)
    assert [(a[2], a[1][b"x-cache"]) for a in mixed] == [(b"bravo", b"Miss from cloudfront"), (b"alpha", b"Hit from cloudfront")]
    # An API call on the same connection (now served by the full stack), then a hit again.
    api = ask(s, b"GET /_kumo/health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: %s\r\n\r\n" % host, 2)
    assert api[0][0].startswith(b"HTTP/1.1 200") and api[1][2] == b"bravo" and api[1][1][b"x-cache"] == b"Hit from cloudfront"
    s.close()

    # Connection: close on a hit: answered, then closed.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    last = ask(s, b"GET /a.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host, 1)
    assert last[0][2] == b"alpha" and last[0][1][b"connection"] == b"close" and s.recv(1) == b""
    s.close()
    # Two hits were counted as CloudFront requests in the edge's own metrics too.
    assert "cloudfront" in requests.get(kumo.url + "/_kumo/metrics", timeout=10).text
