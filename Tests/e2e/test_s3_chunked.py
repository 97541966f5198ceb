"""aws-chunked uploads as the Java and Go SDKs send them: signed chunks, and checksums in trailers."""
import base64
import hashlib
import hmac
import zlib

import requests

from sigv4 import sign, signing_key

EMPTY = hashlib.sha256(b"").hexdigest()


def chunked_put(kumo, path, data, chunk=64 * 1024, tamper=False, trailer=None, mode="signed"):
    url = kumo.url + path
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    declared = {"signed": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "unsigned-trailer": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "signed-trailer": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}[mode]
    headers["x-amz-content-sha256"] = declared
    signed = sign("PUT", url, headers, b"", "s3", payload_hash=declared)
    amz_date = signed["X-Amz-Date"]
    scope = "%s/us-east-1/s3/aws4_request" % amz_date[:8]
    key = signing_key("test", amz_date[:8], "us-east-1", "s3")
    previous = signed["Authorization"].rsplit("Signature=", 1)[1]
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    body = b""
    for n, piece in enumerate(pieces):
        if mode == "unsigned-trailer":
            body += b"%x\r\n" % len(piece) + piece + (b"\r\n" if piece else b"")
            continue
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY, hashlib.sha256(piece).hexdigest()])
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        previous = sig
        sent = piece
        if tamper and n == 0:
            sent = bytes([piece[0] ^ 1]) + piece[1:]
        body += b"%x;chunk-signature=%s\r\n" % (len(sent), sig.encode()) + sent + (b"\r\n" if piece else b"")
    if trailer:
        name, value = trailer
        body += b"%s:%s\r\n" % (name.encode(), value.encode())
        if mode == "signed-trailer":
            canonical = "%s:%s\n" % (name, value)
            to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, hashlib.sha256(canonical.encode()).hexdigest()])
            body += b"x-amz-trailer-signature:%s\r\n" % hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest().encode()
    body += b"\r\n"
    signed["Content-Length"] = str(len(body))
    return requests.put(url, data=body, headers=signed)


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_signed_chunks_are_decoded_and_verified(kumo):
    s3 = kumo.client("s3")
    s3.create_bucket(Bucket="chunky")
    data = bytes(range(256)) * 1000
    r = chunked_put(kumo, "/chunky/signed.bin", data)
    assert r.status_code == 200, r.text
    got = s3.get_object(Bucket="chunky", Key="signed.bin")
    assert got["Body"].read() == data and "ContentEncoding" not in got
    r = chunked_put(kumo, "/chunky/tampered.bin", data, tamper=True)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
    assert "Contents" not in s3.list_objects_v2(Bucket="chunky", Prefix="tampered")


def test_trailing_checksums(kumo):
    s3 = kumo.client("s3")
    s3.create_bucket(Bucket="trailers")
    data = b"kumo trailer " * 10000
    good = ("x-amz-checksum-crc32", crc32_b64(data))
    r = chunked_put(kumo, "/trailers/u.bin", data, trailer=good, mode="unsigned-trailer")
    assert r.status_code == 200, r.text
    head = s3.head_object(Bucket="trailers", Key="u.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == good[1] and head["ContentLength"] == len(data)
    r = chunked_put(kumo, "/trailers/s.bin", data, trailer=good, mode="signed-trailer")
    assert r.status_code == 200, r.text
    bad = ("x-amz-checksum-crc32", crc32_b64(b"other"))
    r = chunked_put(kumo, "/trailers/bad.bin", data, trailer=bad, mode="unsigned-trailer")
    assert r.status_code == 400 and b"BadDigest" in r.content
    assert "Contents" not in s3.list_objects_v2(Bucket="trailers", Prefix="bad")


def test_streamed_body_must_match_its_signed_hash(kumo):
    kumo.client("s3").create_bucket(Bucket="hashes")
    url = kumo.url + "/hashes/h.bin"
    body = b"the real body"
    headers = sign("PUT", url, {"x-amz-content-sha256": hashlib.sha256(b"another body").hexdigest()}, body, "s3",
                   payload_hash=hashlib.sha256(b"another body").hexdigest())
    r = requests.put(url, data=body, headers=headers)
    assert r.status_code == 400 and b"XAmzContentSHA256Mismatch" in r.content
    headers = sign("PUT", url, {"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}, body, "s3")
    assert requests.put(url, data=body, headers=headers).status_code == 200
