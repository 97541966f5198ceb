"""The client-rendered path: `aws s3 sync` a site into a bucket, serve it from the website endpoint, fetch it with curl."""
import json
import subprocess

import pytest

from conftest import aws_cli


def curl(kumo, bucket, path, host_form="{b}.s3-website.localhost"):
    host = host_form.format(b=bucket) + ":%d" % kumo.port
    r = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "10", "-H", "Host: " + host, "%s%s" % (kumo.url, path)],
        capture_output=True, timeout=20)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return status, headers, body


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    (root / "docs" / "guide").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "404.html").write_text("<h1>lost</h1>")
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "docs" / "guide" / "index.html").write_text("<h1>guide</h1>")
    (root / "app.js").write_text("console.log('kumo')")
    (root / "img" / "logo.png").write_bytes(bytes(range(256)) * 40)
    return root


def public_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % bucket}]})


def test_sync_and_serve_a_static_site(kumo, site):
    aws_cli(kumo, "s3", "mb", "s3://www")
    out = aws_cli(kumo, "s3", "sync", str(site), "s3://www").stdout
    assert out.count("upload:") == 6
    # A second sync has nothing to do.
    assert "upload:" not in aws_cli(kumo, "s3", "sync", str(site), "s3://www").stdout
    aws_cli(kumo, "s3", "website", "s3://www", "--index-document", "index.html", "--error-document", "404.html")
    # Not public yet: S3's HTML 403.
    status, _, body = curl(kumo, "www", "/")
    assert status == 403 and b"<h1>403 Forbidden</h1>" in body and b"AccessDenied" in body
    aws_cli(kumo, "s3api", "delete-public-access-block", "--bucket", "www")
    aws_cli(kumo, "s3api", "put-bucket-policy", "--bucket", "www", "--policy", public_policy("www"))
    status, headers, body = curl(kumo, "www", "/")
    assert status == 200 and body == b"<h1>home</h1>" and headers["content-type"] == "text/html"
    assert curl(kumo, "www", "/docs/")[2] == b"<h1>docs</h1>"
    assert curl(kumo, "www", "/docs/guide/")[2] == b"<h1>guide</h1>"
    status, headers, _ = curl(kumo, "www", "/docs")
    assert status == 302 and headers["location"] == "/docs/"
    status, headers, body = curl(kumo, "www", "/img/logo.png")
    assert status == 200 and body == bytes(range(256)) * 40 and headers["content-type"] == "image/png"
    r = subprocess.run(["curl", "-s", "-i", "-r", "10-19", "-H", "Host: www.s3-website.localhost", kumo.url + "/img/logo.png"],
                       capture_output=True, timeout=20)
    assert r.stdout.startswith(b"HTTP/1.1 206") and r.stdout.endswith(bytes(range(10, 20)))
    status, _, body = curl(kumo, "www", "/missing.html")
    assert status == 404 and body == b"<h1>lost</h1>"
    # The region-qualified host forms.
    assert curl(kumo, "www", "/app.js", "{b}.s3-website-us-east-1.localhost")[2] == b"console.log('kumo')"
    assert curl(kumo, "www", "/app.js", "{b}.s3-website.us-east-1.localhost")[2] == b"console.log('kumo')"
    # POST is not a website method.
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Host: www.s3-website.localhost",
                        kumo.url + "/"], capture_output=True, text=True, timeout=20)
    assert r.stdout == "405"


def test_website_errors_redirects_and_rules(kumo, site):
    s3 = kumo.client("s3")
    s3.create_bucket(Bucket="plain")
    s3.delete_public_access_block(Bucket="plain")
    s3.put_bucket_policy(Bucket="plain", Policy=public_policy("plain"))
    status, _, body = curl(kumo, "plain", "/")
    assert status == 404 and b"NoSuchWebsiteConfiguration" in body
    assert curl(kumo, "nosuchbucket", "/")[0] == 404
    s3.put_bucket_website(Bucket="plain", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"},
        "RoutingRules": [
            {"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/", "HttpRedirectCode": "301"}},
            {"Condition": {"HttpErrorCodeReturnedEquals": "404"}, "Redirect": {"HostName": "example.com", "ReplaceKeyWith": "gone.html"}},
        ]})
    s3.put_object(Bucket="plain", Key="index.html", Body=b"root", ContentType="text/html")
    s3.put_object(Bucket="plain", Key="moved", Body=b"", WebsiteRedirectLocation="/index.html")
    assert curl(kumo, "plain", "/")[2] == b"root"
    status, headers, _ = curl(kumo, "plain", "/moved")
    assert status == 301 and headers["location"] == "/index.html"
    status, headers, _ = curl(kumo, "plain", "/old/page.html")
    assert status == 301 and headers["location"] == "http://plain.s3-website.localhost:%d/new/page.html" % kumo.port
    status, headers, _ = curl(kumo, "plain", "/nothing-here")
    assert status == 301 and headers["location"] == "http://example.com/gone.html"
    # Without rules or an error document: S3's own 404 page naming the key.
    s3.put_bucket_website(Bucket="plain", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    status, headers, body = curl(kumo, "plain", "/nothing-here")
    assert status == 404 and b"<h1>404 Not Found</h1>" in body and b"Key: nothing-here" in body
    s3.put_bucket_website(Bucket="plain", WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "kumo.example", "Protocol": "https"}})
    status, headers, _ = curl(kumo, "plain", "/a/b")
    assert status == 301 and headers["location"] == "https://kumo.example/a/b"


def test_cli_presign_and_object_commands(kumo, tmp_path):
    aws_cli(kumo, "s3", "mb", "s3://cli-bucket")
    f = tmp_path / "note.txt"
    f.write_text("from the cli")
    aws_cli(kumo, "s3", "cp", str(f), "s3://cli-bucket/notes/note.txt")
    listing = aws_cli(kumo, "s3", "ls", "s3://cli-bucket/notes/").stdout
    assert "note.txt" in listing
    url = aws_cli(kumo, "s3", "presign", "s3://cli-bucket/notes/note.txt", "--expires-in", "60").stdout.strip()
    r = subprocess.run(["curl", "-s", "--max-time", "10", url], capture_output=True, timeout=20)
    assert r.stdout == b"from the cli"
    head = json.loads(aws_cli(kumo, "s3api", "head-object", "--bucket", "cli-bucket", "--key", "notes/note.txt").stdout)
    assert head["ContentLength"] == 12
    r = aws_cli(kumo, "s3api", "get-object", "--bucket", "cli-bucket", "--key", "nope", str(tmp_path / "x"), check=False)
    assert r.returncode != 0 and "NoSuchKey" in r.stderr
    aws_cli(kumo, "s3", "rm", "--recursive", "s3://cli-bucket")
    aws_cli(kumo, "s3", "rb", "s3://cli-bucket")
    r = aws_cli(kumo, "s3", "ls", "s3://cli-bucket", check=False)
    assert r.returncode != 0 and "NoSuchBucket" in r.stderr
