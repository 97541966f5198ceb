"""Lifecycle rules act, on a clock shortened by --time-scale (one AWS day ≈ 0.9 s here)."""
import time

from conftest import wait_for


def test_expiration_and_noncurrent_versions(start_kumo):
    k = start_kumo("--time-scale", "0.00001")
    s3 = k.client("s3")
    s3.create_bucket(Bucket="life")
    s3.put_object(Bucket="life", Key="tmp/a", Body=b"a")
    s3.put_object(Bucket="life", Key="keep/b", Body=b"b")
    s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Days": 1}}]})
    keys = lambda b: [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]
    assert wait_for(lambda: keys("life") == ["keep/b"])
    time.sleep(1.5)
    assert keys("life") == ["keep/b"]

    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="versions", Key="doc", Body=b"v1")
    s3.put_object(Bucket="versions", Key="doc", Body=b"v2")
    up = s3.create_multipart_upload(Bucket="versions", Key="stale")["UploadId"]
    s3.put_bucket_lifecycle_configuration(Bucket="versions", LifecycleConfiguration={"Rules": [
        {"ID": "nc", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 2},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]})
    versions = lambda: [v["VersionId"] for v in s3.list_object_versions(Bucket="versions").get("Versions", [])]
    assert len(versions()) == 2
    assert wait_for(lambda: len(versions()) == 1)
    assert s3.get_object(Bucket="versions", Key="doc")["Body"].read() == b"v2"
    assert wait_for(lambda: "Uploads" not in s3.list_multipart_uploads(Bucket="versions"))
    assert up
