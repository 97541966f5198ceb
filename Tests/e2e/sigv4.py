"""A small SigV4 signer for requests boto3 will not make (other clocks, raw protocols)."""
import datetime
import hashlib
import hmac
import urllib.parse


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method, url, headers, body, service, key="test", secret="test", region="us-east-1", when=None, payload_hash=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parsed = urllib.parse.urlsplit(url)
    headers = dict(headers)
    headers["Host"] = parsed.netloc
    headers["X-Amz-Date"] = amz_date
    signed = sorted(k.lower() for k in headers)
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    query = "&".join(sorted(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
        for k, v in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)))
    path = urllib.parse.quote(parsed.path or "/", safe="/-_.~")
    canonical = "\n".join([
        method, path, query,
        "".join("%s:%s\n" % (h, lower[h]) for h in signed),
        ";".join(signed), payload_hash or hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        key, scope, ";".join(signed), signature)
    return headers


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    return k
