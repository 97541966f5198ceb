"""S3 through boto3: buckets, objects, integrity, conditions, listing, multipart, versioning, access."""
import base64
import hashlib
import os
import signal
import time
import uuid

import pytest
import requests
from botocore.exceptions import ClientError


def code(e):
    return e.value.response["Error"]["Code"]


def status(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def s3(kumo):
    return kumo.client("s3")


@pytest.fixture
def bucket(s3):
    name = "b-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


def test_bucket_lifecycle_and_errors(kumo, s3):
    s3.create_bucket(Bucket="alpha")
    s3.create_bucket(Bucket="alpha")  # us-east-1 answers 200 for a bucket you own
    s3.head_bucket(Bucket="alpha")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["alpha"]
    assert s3.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    for bad in ["ab", "UPPER", "a..b", "192.168.1.1", "-dash", "x" * 64]:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=bad)
        assert code(e) == "InvalidBucketName", bad
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="missing-bucket")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="missing-bucket")
    assert code(e) == "NoSuchBucket"
    s3.put_object(Bucket="alpha", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="alpha")
    assert code(e) == "BucketNotEmpty" and status(e) == 409
    s3.delete_object(Bucket="alpha", Key="k")
    s3.delete_bucket(Bucket="alpha")
    assert s3.list_buckets()["Buckets"] == []


def test_regions_and_location_constraints(kumo):
    eu = kumo.client("s3", region="eu-west-1")
    eu.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket="eu-bucket")["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as e:
        eu.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        eu.create_bucket(Bucket="eu-other", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert code(e) == "IllegalLocationConstraintException"
    us = kumo.client("s3")
    with pytest.raises(ClientError) as e:
        us.create_bucket(Bucket="us-other", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert code(e) == "InvalidLocationConstraint"
    other = kumo.client("s3", key="222233334444")
    with pytest.raises(ClientError) as e:
        other.create_bucket(Bucket="eu-bucket")
    assert code(e) in ("BucketAlreadyExists", "InvalidAccessKeyId")


def test_put_get_head_with_metadata_and_overrides(s3, bucket):
    body = b"hello kumo"
    r = s3.put_object(
        Bucket=bucket, Key="dir/file.txt", Body=body, ContentType="text/plain", CacheControl="max-age=60",
        ContentDisposition="inline", ContentLanguage="en", Metadata={"Color": "blue", "owner": "me"})
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="dir/file.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain" and got["CacheControl"] == "max-age=60"
    assert got["ContentLanguage"] == "en" and got["ContentDisposition"] == "inline"
    assert got["Metadata"] == {"color": "blue", "owner": "me"}
    head = s3.head_object(Bucket=bucket, Key="dir/file.txt")
    assert head["ContentLength"] == len(body) and head["ETag"] == r["ETag"]
    over = s3.get_object(Bucket=bucket, Key="dir/file.txt", ResponseContentType="application/x-test", ResponseCacheControl="no-cache")
    assert over["ContentType"] == "application/x-test" and over["CacheControl"] == "no-cache"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert status(e) == 404


def test_integrity_md5_and_checksums(s3, bucket):
    body = os.urandom(5000)
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=body, ContentMD5=good)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="m2", Body=body, ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="m3", Body=body, ContentMD5="not-base64")
    assert code(e) == "InvalidDigest"
    # CRC32C and CRC64NVME need botocore[crt] on the client; the Swift unit tests check them.
    for algo in ["CRC32", "SHA1", "SHA256"]:
        r = s3.put_object(Bucket=bucket, Key="c-" + algo, Body=body, ChecksumAlgorithm=algo)
        assert r["Checksum" + algo]
        got = s3.get_object(Bucket=bucket, Key="c-" + algo, ChecksumMode="ENABLED")
        assert got["Checksum" + algo] == r["Checksum" + algo]
        assert got["Body"].read() == body
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert s3.head_object(Bucket=bucket, Key="c-SHA256", ChecksumMode="ENABLED")["ChecksumSHA256"] == digest
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumSHA256=base64.b64encode(b"x" * 32).decode())
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_objects_larger_than_what_a_get_reads_with_its_row(s3, bucket):
    # A GET reads the first 64 KiB with the object's row and the rest from the I/O threads.
    body = os.urandom(3 * 65536 + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body
    for first, last in [(0, 65535), (65530, 65545), (65536, 200000), (100, 3 * 65536 + 16)]:
        r = s3.get_object(Bucket=bucket, Key="big", Range="bytes=%d-%d" % (first, last))
        last = min(last, len(body) - 1)  # a range past the end is cut to the object
        assert r["ContentRange"] == "bytes %d-%d/%d" % (first, last, len(body))
        assert r["Body"].read() == body[first:last + 1]


def test_ranges_and_conditions(s3, bucket):
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    r = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentRange"] == "bytes 10-19/1024" and r["Body"].read() == body[10:20]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-6000")
    assert code(e) == "InvalidRange" and status(e) == 416
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert code(e) == "PreconditionFailed" and status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == body
    future = time.time() + 3600
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=future)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=time.time() - 3600)
    assert status(e) == 412
    # Conditional writes.
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="r", Body=b"2", IfMatch='"0000"')
    assert status(e) == 412
    s3.put_object(Bucket=bucket, Key="r", Body=b"2", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="r")["Body"].read() == b"2"


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ContentType="text/x-a", Metadata={"a": "1"})
    s3.create_bucket(Bucket=bucket + "-2")
    r = s3.copy_object(Bucket=bucket + "-2", Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"data").hexdigest()
    got = s3.get_object(Bucket=bucket + "-2", Key="dst")
    assert got["Body"].read() == b"data" and got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/x-a"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(e) == "InvalidRequest"
    s3.copy_object(
        Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE",
        Metadata={"b": "2"}, ContentType="text/x-b")
    got = s3.head_object(Bucket=bucket, Key="src")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/x-b"
    # The copy is independent of its source.
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket + "-2", Key="dst")["Body"].read() == b"data"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(e) == "NoSuchKey"


def test_listing_v2_v1_delimiters_and_pages(s3, bucket):
    keys = ["a/b/c", "a/b/d", "a/e", "b", "c/", "c//d", "é/ü", "f g+h", "z"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "c/", "é/"]
    assert [o["Key"] for o in r["Contents"]] == ["b", "f g+h", "z"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"] and [o["Key"] for o in r["Contents"]] == ["a/e"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="c/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["c//"] and [o["Key"] for o in r["Contents"]] == ["c/"]
    # Pages of two with a delimiter, each key or prefix exactly once.
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2, **kw)
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] <= 2
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == sorted(["a/", "c/", "é/", "b", "f g+h", "z"])
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="c/")["Contents"]][0] == "c//d"
    encoded = s3.list_objects_v2(Bucket=bucket, Prefix="f", EncodingType="url")
    assert encoded["Contents"][0]["Key"] == "f%20g%2Bh"  # asked for explicitly, botocore leaves it encoded
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="garbage")
    assert code(e) == "InvalidArgument"
    v1 = s3.list_objects(Bucket=bucket, MaxKeys=3)
    assert v1["IsTruncated"] and [o["Key"] for o in v1["Contents"]] == ["a/b/c", "a/b/d", "a/e"]
    v1 = s3.list_objects(Bucket=bucket, Marker="a/e", Delimiter="/")
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["c/", "é/"]
    paginator = s3.get_paginator("list_objects_v2")
    assert sum(len(p.get("Contents", [])) for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})) == len(keys)


def test_delete_objects(s3, bucket):
    for k in ["1", "2", "3"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "1"}, {"Key": "2"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["1", "2", "missing"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["3"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "3"}], "Quiet": True})
    assert "Deleted" not in r
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart(s3, bucket):
    mib = 1024 * 1024
    part1, part2 = os.urandom(5 * mib), os.urandom(1234)
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="video/mp4", Metadata={"m": "v"})
    uid = up["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=2, Body=part2)["ETag"]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)["Parts"]] == [1, 2]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": '"ffff"'}]})
    assert code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e2}]})
    assert code(e) == "InvalidPart"
    r = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    md5s = b"".join(bytes.fromhex(e.strip('"')) for e in (e1, e2))
    assert r["ETag"] == '"%s-2"' % hashlib.md5(md5s).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == part1 + part2 and got["ContentType"] == "video/mp4" and got["Metadata"] == {"m": "v"}
    assert s3.get_object(Bucket=bucket, Key="big", PartNumber=2)["Body"].read() == part2
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    # Too-small parts, part copy with a range, abort.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    a = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"a" * 10)["ETag"]
    c = s3.upload_part_copy(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, CopySource={"Bucket": bucket, "Key": "big"},
                            CopySourceRange="bytes=0-99")["CopyPartResult"]["ETag"]
    assert c == '"%s"' % hashlib.md5(part1[:100]).hexdigest()
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": c}]})
    assert code(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=3, Body=b"x")
    assert code(e) == "NoSuchUpload"


def test_versioning(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    versions = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in versions["Versions"]] == [v2, v1, "null"]
    assert versions["DeleteMarkers"][0]["IsLatest"] is True
    s3.delete_object(Bucket=bucket, Key="k", VersionId=d["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    assert page["IsTruncated"] and page["NextVersionIdMarker"] == v1
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    assert [v["VersionId"] for v in rest["Versions"]] == ["null"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"s1").get("VersionId") == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"s2")
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert ids == ["null", v1]  # the suspended write replaced the old null version
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"s2"
    s3.delete_object(Bucket=bucket, Key="k")  # suspended: a null delete marker replaces the null version
    s3.put_object(Bucket=bucket, Key="k", Body=b"s3")  # and a write replaces the null delete marker
    versions = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in versions["Versions"]] == ["null", v1] and versions.get("DeleteMarkers", []) == []
    assert versions["Versions"][0]["IsLatest"] and not versions["Versions"][1]["IsLatest"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"s3"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() != b"s3"


def test_tagging_and_bucket_configs(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=2")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert s3.head_object(Bucket=bucket, Key="t").get("TagCount") is None or True
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "dev"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]})
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=bucket)
    assert code(e) == "NoSuchWebsiteConfiguration"
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    w = s3.get_bucket_website(Bucket=bucket)
    assert w["IndexDocument"] == {"Suffix": "index.html"} and w["ErrorDocument"] == {"Key": "404.html"}
    s3.delete_bucket_website(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_website(Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedMethods"] == ["GET"]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]})
    assert code(e) == "InvalidRequest"
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"] == "r"
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"] == "FULL_CONTROL"


def test_policies_anonymous_access_and_presigned_urls(kumo, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret")
    url = "%s/%s/private.txt" % (kumo.url, bucket)
    r = requests.get(url)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy="not json")
    assert code(e) == "MalformedPolicy"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy='{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}')
    assert code(e) == "MalformedPolicy"
    public = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*"}]}' % bucket
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)  # blocked by the default public access block
    assert code(e) == "AccessDenied"
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=public)
    r = requests.get(url)
    assert r.content == b"secret"
    assert requests.get("%s/%s?list-type=2" % (kumo.url, bucket)).status_code == 403
    deny = ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*"},'
            '{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/private.txt",'
            ' "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}') % (bucket, bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=deny)
    assert requests.get(url).status_code == 403
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="private.txt")  # an explicit Deny binds the owner too
    assert code(e) == "AccessDenied"
    # StringLike on s3:prefix: anonymous listings of one prefix only.
    listing = ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::%s",'
               ' "Condition": {"StringLike": {"s3:prefix": "pub*/"}}}]}') % bucket
    s3.put_bucket_policy(Bucket=bucket, Policy=listing)
    assert requests.get("%s/%s?list-type=2&prefix=public/" % (kumo.url, bucket)).status_code == 200
    assert requests.get("%s/%s?list-type=2&prefix=private/" % (kumo.url, bucket)).status_code == 403
    assert requests.get("%s/%s?list-type=2" % (kumo.url, bucket)).status_code == 403
    s3.delete_bucket_policy(Bucket=bucket)
    # Presigned URLs.
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "private.txt"}, ExpiresIn=60)
    assert requests.get(get_url).content == b"secret"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    assert requests.put(put_url, data=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "private.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(expired)
    assert r.status_code == 403 and b"Request has expired" in r.content
    tampered = get_url.replace("private.txt", "up.txt")
    assert requests.get(tampered).status_code == 403


def test_keys_are_data_not_paths(kumo, s3, bucket, data_dir):
    tricky = ["../escape", "%2e%2e/x", "a\\b", "..", "./.", "nul\x01", "k" * 1024, "日本/語"]
    for k in tricky:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == sorted(tricky, key=lambda k: k.encode())
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"")
    assert code(e) == "KeyTooLongError"
    for root, dirs, files in os.walk(os.path.dirname(data_dir)):
        assert "escape" not in files


def test_acknowledged_put_survives_kill_9(start_kumo, data_dir):
    k = start_kumo(data_dir=data_dir)
    s3 = k.client("s3")
    s3.create_bucket(Bucket="durable")
    body = os.urandom(300_000)
    s3.put_object(Bucket="durable", Key="obj", Body=body)
    k.proc.send_signal(signal.SIGKILL)
    k.proc.wait()
    k2 = start_kumo(data_dir=data_dir)
    assert k2.client("s3").get_object(Bucket="durable", Key="obj")["Body"].read() == body


def test_large_object_streams_with_bounded_memory(kumo, s3, bucket, tmp_path):
    size = 192 * 1024 * 1024
    chunk = os.urandom(1024 * 1024)
    source = tmp_path / "big"
    with open(source, "wb") as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "big"}, ExpiresIn=300)
    with open(source, "rb") as f:
        r = requests.put(url, data=f)
    assert r.status_code == 200, r.text
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big"}, ExpiresIn=300)
    total = 0
    h = hashlib.md5()
    with requests.get(get, stream=True) as resp:
        for piece in resp.iter_content(1024 * 1024):
            total += len(piece)
            h.update(piece)
    assert total == size
    expect = hashlib.md5()
    for _ in range(size // len(chunk)):
        expect.update(chunk)
    assert h.hexdigest() == expect.hexdigest()
    with open("/proc/%d/status" % kumo.proc.pid) as f:
        peak_kib = int([l for l in f if l.startswith("VmHWM")][0].split()[1])
    assert peak_kib < 100 * 1024, "kumo's peak RSS was %d MiB" % (peak_kib // 1024)


def test_cors_preflight_and_headers(kumo, s3, bucket):
    s3.put_object(Bucket=bucket, Key="data.json", Body=b"{}")
    url = "%s/%s/data.json" % (kumo.url, bucket)
    r = requests.options(url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and b"CORS is not enabled" in r.content
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*", "content-type"],
         "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    r = requests.options(url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                                       "Access-Control-Request-Headers": "content-type, x-amz-meta-a"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT" and r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-a"
    r = requests.options(url, headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and b"AccessForbidden" in r.content
    r = requests.options(url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"})
    assert r.status_code == 403
    assert requests.options(url).status_code == 400
    signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "data.json"})
    r = requests.get(signed, headers={"Origin": "https://app.example"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert "Access-Control-Allow-Origin" not in requests.get(signed, headers={"Origin": "https://evil.test"}).headers


def test_interrupted_writes_leave_nothing_behind(start_kumo, data_dir):
    k = start_kumo(data_dir=data_dir)
    s3 = k.client("s3")
    s3.create_bucket(Bucket="clean")
    s3.put_object(Bucket="clean", Key="kept", Body=b"kept")
    k.proc.send_signal(signal.SIGKILL)
    k.proc.wait()
    # What a kill -9 in the middle of an upload leaves: a temp file, and a placed file with no row.
    objects = os.path.join(data_dir, "s3", "objects")
    os.makedirs(os.path.join(objects, "ff"), exist_ok=True)
    orphan = os.path.join(objects, "ff", "ff" + "0" * 30)
    with open(orphan, "wb") as f:
        f.write(b"half")
    os.utime(orphan, (time.time() - 60, time.time() - 60))
    partial = os.path.join(data_dir, "s3", "tmp", "partial")
    with open(partial, "wb") as f:
        f.write(b"partial")
    k2 = start_kumo(data_dir=data_dir)
    assert not os.path.exists(partial)
    deadline = time.monotonic() + 10
    while os.path.exists(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(orphan)
    assert k2.client("s3").get_object(Bucket="clean", Key="kept")["Body"].read() == b"kept"


def test_notification_configuration_is_checked_and_kept(kumo, s3, bucket):
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)
    bad_event = {"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectEaten:*"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=bad_event)
    assert code(e) == "InvalidArgument"
    bad_arn = {"QueueConfigurations": [{"QueueArn": "not-an-arn", "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=bad_arn)
    assert code(e) == "InvalidArgument"
    missing = {"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:nope", "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=missing)
    assert code(e) == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_concurrent_overwrites_leave_one_whole_object(kumo, s3, bucket, data_dir):
    import concurrent.futures
    bodies = [bytes([i]) * (256 * 1024 + i) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda b: kumo.client("s3").put_object(Bucket=bucket, Key="contended", Body=b), bodies))
    got = s3.get_object(Bucket=bucket, Key="contended")["Body"].read()
    assert got in bodies
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null"]
    files = [f for _, _, fs in os.walk(os.path.join(data_dir, "s3", "objects")) for f in fs]
    assert len(files) == 1, files


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_object_attributes_owners_acls_and_secure_transport(kumo, s3, bucket):
    # GetObjectAttributes: a single PUT, and a multipart object with its parts.
    s3.put_object(Bucket=bucket, Key="one.txt", Body=b"hello", ChecksumAlgorithm="SHA256")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="one.txt", ObjectAttributes=["ETag", "ObjectSize", "Checksum", "StorageClass"])
    assert attrs["ETag"] == hashlib.md5(b"hello").hexdigest() and attrs["ObjectSize"] == 5 and attrs["StorageClass"] == "STANDARD"
    assert attrs["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts.bin")["UploadId"]
    chunks = [b"a" * (5 << 20), b"b" * 10]
    etags = [s3.upload_part(Bucket=bucket, Key="parts.bin", UploadId=upload, PartNumber=i + 1, Body=c)["ETag"] for i, c in enumerate(chunks)]
    s3.complete_multipart_upload(Bucket=bucket, Key="parts.bin", UploadId=upload,
                                 MultipartUpload={"Parts": [{"ETag": t, "PartNumber": i + 1} for i, t in enumerate(etags)]})
    parts = s3.get_object_attributes(Bucket=bucket, Key="parts.bin", ObjectAttributes=["ObjectParts", "ObjectSize"])
    assert parts["ObjectSize"] == (5 << 20) + 10 and parts["ObjectParts"]["TotalPartsCount"] == 2
    assert [p["Size"] for p in parts["ObjectParts"]["Parts"]] == [5 << 20, 10]
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert code(e) == "NoSuchKey"

    # FetchOwner: listings name the owner only when asked.
    plain = s3.list_objects_v2(Bucket=bucket)["Contents"]
    owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert "Owner" not in plain[0] and owned[0]["Owner"]["ID"]

    # New buckets enforce bucket ownership: ACLs other than private are refused; the ACL read shows the owner.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="pub.txt", Body=b"x", ACL="public-read")
    assert code(e) == "AccessControlListNotSupported"
    grants = s3.get_object_acl(Bucket=bucket, Key="one.txt")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    # With ACLs allowed (ObjectWriter) and the public access block off, public-read opens one object to everyone.
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="pub.txt", Body=b"for all", ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="pub.txt")["Grants"]
    assert any(g["Grantee"].get("URI") == "http://acs.amazonaws.com/groups/global/AllUsers" and g["Permission"] == "READ" for g in grants)
    assert requests.get("%s/%s/pub.txt" % (kumo.url, bucket), timeout=10).content == b"for all"
    assert requests.get("%s/%s/one.txt" % (kumo.url, bucket), timeout=10).status_code == 403

    # aws:SecureTransport: a policy that denies plain HTTP; the same request over TLS passes.
    policy = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",'
              ' "Resource": "arn:aws:s3:::%s/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}') % bucket
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert requests.get("%s/%s/pub.txt" % (kumo.url, bucket), timeout=10).status_code == 403
    tls = kumo.url.replace("http://", "https://")
    assert requests.get("%s/%s/pub.txt" % (tls, bucket), verify=False, timeout=10).content == b"for all"
