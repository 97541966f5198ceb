"""STS end to end: the proof that signing, the query protocol and the store work together."""
import json
import signal
import time

import botocore.exceptions
import pytest
import requests

from conftest import aws_cli


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_get_caller_identity_with_boto3_and_cli(kumo):
    ident = kumo.client("sts").get_caller_identity()
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:iam::000000000000:root"
    assert ident["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    out = json.loads(aws_cli(kumo, "sts", "get-caller-identity").stdout)
    assert out["Account"] == "000000000000"


def test_assume_role_credentials_sign_requests(kumo):
    sts = kumo.client("sts")
    resp = sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer", RoleSessionName="ci-run")
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert resp["AssumedRoleUser"]["Arn"] == "arn:aws:sts::111122223333:assumed-role/deployer/ci-run"
    as_role = kumo.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    ident = as_role.get_caller_identity()
    assert ident["Account"] == "111122223333"
    assert ident["Arn"] == "arn:aws:sts::111122223333:assumed-role/deployer/ci-run"
    # The session token is checked.
    wrong = kumo.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], "not-the-token")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong.get_caller_identity()
    assert error_code(e) == "InvalidClientTokenId"


def test_get_session_token(kumo):
    creds = kumo.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    session = kumo.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert session.get_caller_identity()["Account"] == "000000000000"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        session.get_session_token()
    assert error_code(e) == "AccessDenied"


def test_expired_session_token(start_kumo):
    # One AWS second lasts a millisecond: a 900 s token expires in about a second.
    k = start_kumo("--time-scale", "0.001")
    creds = k.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    session = k.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    deadline = creds["Expiration"].timestamp()
    while time.time() <= deadline + 0.05:
        time.sleep(0.05)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        session.get_caller_identity()
    assert error_code(e) == "ExpiredToken"


def test_bad_credentials_are_rejected(kumo):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kumo.client("sts", "test", "wrong-secret").get_caller_identity()
    assert error_code(e) == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kumo.client("sts", "AKIANOSUCHKEY", "x").get_caller_identity()
    assert error_code(e) == "InvalidClientTokenId"
    r = aws_cli(kumo, "sts", "get-caller-identity", secret="nope", check=False)
    assert r.returncode != 0 and "SignatureDoesNotMatch" in r.stderr


def test_validation_errors_in_aws_words(kumo):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kumo.client("sts").assume_role(RoleArn="arn:aws:s3:::not-a-role-at-all", RoleSessionName="session")
    assert error_code(e) == "ValidationError"
    # A raw query request missing a required member is refused by the model's validation.
    from sigv4 import sign
    body = b"Action=AssumeRole&Version=2011-06-15&RoleSessionName=s"
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-www-form-urlencoded"}, body, "sts")
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 400
    assert "<Code>ValidationError</Code>" in r.text
    assert "Value null at &apos;roleArn&apos;" in r.text or "Value null at 'roleArn'" in r.text


def test_presigned_url_and_expiry(kumo):
    sts = kumo.client("sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert "<Account>000000000000</Account>" in r.text
    short = sts.generate_presigned_url("get_caller_identity", ExpiresIn=1, HttpMethod="GET")
    time.sleep(2.1)  # the URL's own expiry is what is being tested
    r = requests.get(short, timeout=10)
    assert r.status_code == 403 and "expired" in r.text


def test_clock_skew_is_refused(kumo):
    import datetime
    from sigv4 import sign
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-www-form-urlencoded"}, body, "sts", when=past)
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 403
    assert "<Code>RequestTimeTooSkewed</Code>" in r.text


def test_temporary_credentials_survive_kill_9(start_kumo, data_dir):
    k = start_kumo(data_dir=data_dir)
    creds = k.client("sts").get_session_token()["Credentials"]
    k.proc.send_signal(signal.SIGKILL)
    k.proc.wait()
    again = start_kumo(data_dir=data_dir)
    session = again.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert session.get_caller_identity()["Account"] == "000000000000"


def test_no_auth_selects_account_by_key(start_kumo):
    k = start_kumo("--no-auth")
    ident = k.client("sts", "123456789012", "anything").get_caller_identity()
    assert ident["Account"] == "123456789012"
    assert k.client("sts", "whatever", "x").get_caller_identity()["Account"] == "000000000000"


def test_credentials_file_declares_accounts(start_kumo, tmp_path):
    f = tmp_path / "creds.json"
    f.write_text(json.dumps({"credentials": [
        {"accessKeyId": "AKIAALICE", "secretAccessKey": "alice-secret", "accountId": "111111111111", "userName": "alice"},
        {"accessKeyId": "AKIAROOT2", "secretAccessKey": "root2", "accountId": "222222222222"},
    ]}))
    k = start_kumo("--credentials", str(f))
    alice = k.client("sts", "AKIAALICE", "alice-secret").get_caller_identity()
    assert alice["Account"] == "111111111111" and alice["Arn"] == "arn:aws:iam::111111111111:user/alice"
    root2 = k.client("sts", "AKIAROOT2", "root2").get_caller_identity()
    assert root2["Arn"] == "arn:aws:iam::222222222222:root"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        k.client("sts", "AKIAALICE", "wrong").get_caller_identity()
    assert error_code(e) == "SignatureDoesNotMatch"
