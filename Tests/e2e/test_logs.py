"""CloudWatch Logs end to end: groups, streams, events, filter patterns with boto3 and the CLI,
and instances' console output shipped to /kumo/ec2/<instance-id>."""
import json
import time

import botocore.exceptions
import pytest

from conftest import aws_cli
from conftest import wait_for


def ms():
    return int(time.time() * 1000)


def test_groups_streams_events_and_filters(kumo):
    logs = kumo.client("logs")
    logs.create_log_group(logGroupName="/app/web")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName="/app/web")
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    logs.create_log_stream(logGroupName="/app/web", logStreamName="i-1")
    logs.create_log_stream(logGroupName="/app/web", logStreamName="i-2")
    t = ms()
    logs.put_log_events(logGroupName="/app/web", logStreamName="i-1", logEvents=[
        {"timestamp": t, "message": "GET /home 200"},
        {"timestamp": t + 1, "message": "ERROR user not found"},
        {"timestamp": t + 2, "message": json.dumps({"level": "error", "ms": 250})},
    ])
    logs.put_log_events(logGroupName="/app/web", logStreamName="i-2", logEvents=[
        {"timestamp": t + 3, "message": "ERROR timeout talking to db"},
        {"timestamp": t + 4, "message": json.dumps({"level": "info", "ms": 12})},
    ])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName="/app/web", logStreamName="i-2", logEvents=[
            {"timestamp": t + 10, "message": "b"}, {"timestamp": t + 5, "message": "a"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    old = logs.put_log_events(logGroupName="/app/web", logStreamName="i-2", logEvents=[
        {"timestamp": t - 20 * 86400 * 1000, "message": "ancient"}, {"timestamp": t + 6, "message": "recent"}])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}

    events = logs.get_log_events(logGroupName="/app/web", logStreamName="i-1", startFromHead=True)["events"]
    assert [e["message"] for e in events][:2] == ["GET /home 200", "ERROR user not found"]

    def messages(pattern):
        return [e["message"] for e in logs.filter_log_events(logGroupName="/app/web", filterPattern=pattern)["events"]]
    assert messages("ERROR") == ["ERROR user not found", "ERROR timeout talking to db"]
    assert messages('"user not found"') == ["ERROR user not found"]
    assert messages("ERROR -timeout") == ["ERROR user not found"]
    assert messages("{ $.level = \"error\" }") == [json.dumps({"level": "error", "ms": 250})]
    assert messages("{ $.ms > 100 }") == [json.dumps({"level": "error", "ms": 250})]
    only = logs.filter_log_events(logGroupName="/app/web", logStreamNames=["i-2"], filterPattern="ERROR")["events"]
    assert [e["logStreamName"] for e in only] == ["i-2"]

    # Pages follow the timestamp order across streams (written out of that order), none repeated or skipped.
    logs.create_log_stream(logGroupName="/app/web", logStreamName="late")
    logs.put_log_events(logGroupName="/app/web", logStreamName="late", logEvents=[{"timestamp": t + 1, "message": "late ERROR"}])
    paged, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName="/app/web", filterPattern="ERROR", limit=1, **({"nextToken": token} if token else {}))
        paged += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert paged == ["ERROR user not found", "late ERROR", "ERROR timeout talking to db"]

    streams = logs.describe_log_streams(logGroupName="/app/web")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["i-1", "i-2", "late"] and streams[0]["lastEventTimestamp"] == t + 2
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_retention_policy(logGroupName="/app/web", retentionInDays=10)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    logs.put_retention_policy(logGroupName="/app/web", retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix="/app")["logGroups"][0]["retentionInDays"] == 7

    # (`aws logs tail` is an AWS CLI v2 command; the pinned v1 CLI reads events with filter-log-events.)
    cli = json.loads(aws_cli(kumo, "logs", "filter-log-events", "--log-group-name", "/app/web", "--filter-pattern", "ERROR").stdout)
    assert [e["message"] for e in cli["events"]] == ["ERROR user not found", "late ERROR", "ERROR timeout talking to db"]

    logs.delete_log_group(logGroupName="/app/web")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.describe_log_streams(logGroupName="/app/web")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_instance_console_output_goes_to_cloudwatch_logs(kumo):
    ec2, logs = kumo.client("ec2"), kumo.client("logs")
    iid = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1,
                            UserData="#!/bin/sh\necho booting $KUMO_INSTANCE_ID\necho ready\nsleep 30\n")["Instances"][0]["InstanceId"]

    def lines():
        try:
            return [e["message"] for e in logs.get_log_events(logGroupName="/kumo/ec2/" + iid, logStreamName="console", startFromHead=True)["events"]]
        except botocore.exceptions.ClientError:
            return None
    assert wait_for(lambda: lines() == ["booting " + iid, "ready"], timeout=15)

    # A `kumo:log-group` tag at launch sends the console to that group instead, one stream per instance.
    tagged = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, UserData="#!/bin/sh\necho hello from the web tier\nsleep 30\n",
                               TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kumo:log-group", "Value": "/app/web-tier"}]}],
                               )["Instances"][0]["InstanceId"]

    def tagged_lines():
        try:
            return [e["message"] for e in logs.get_log_events(logGroupName="/app/web-tier", logStreamName=tagged, startFromHead=True)["events"]]
        except botocore.exceptions.ClientError:
            return None
    assert wait_for(lambda: tagged_lines() == ["hello from the web tier"], timeout=15)


def test_live_tail_streams_new_events(kumo):
    import threading
    import boto3
    import botocore.config
    # StartLiveTail's endpoint has the host prefix `stream-`; pointed at Kumo, clients turn host prefixes off.
    logs = boto3.client("logs", endpoint_url=kumo.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
                        config=botocore.config.Config(inject_host_prefix=False, retries={"max_attempts": 1}))
    logs.create_log_group(logGroupName="/app/live")
    logs.create_log_stream(logGroupName="/app/live", logStreamName="web-1")
    logs.create_log_stream(logGroupName="/app/live", logStreamName="worker-1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.start_live_tail(logGroupIdentifiers=["/app/missing"])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app/live"
    stream = logs.start_live_tail(logGroupIdentifiers=[arn], logStreamNamePrefixes=["web"], logEventFilterPattern="ERROR")["responseStream"]
    events = iter(stream)
    start = next(events)["sessionStart"]
    assert start["logGroupIdentifiers"] == [arn] and start["sessionId"]

    def put():
        now = int(time.time() * 1000)
        for name, message in [("web-1", "ERROR boom"), ("web-1", "INFO fine"), ("worker-1", "ERROR elsewhere")]:
            logs.put_log_events(logGroupName="/app/live", logStreamName=name, logEvents=[{"timestamp": now, "message": message}])
    threading.Timer(0.3, put).start()
    seen = []
    deadline = time.time() + 10
    for event in events:
        update = event["sessionUpdate"]
        assert update["sessionMetadata"]["sampled"] is False
        seen += [(r["logStreamName"], r["message"], r["logGroupIdentifier"]) for r in update["sessionResults"]]
        if seen or time.time() > deadline:
            break
    stream.close()
    assert seen == [("web-1", "ERROR boom", arn)]

    # A session still open does not hold Kumo's shutdown up.
    open_session = iter(logs.start_live_tail(logGroupIdentifiers=[arn])["responseStream"])
    assert "sessionStart" in next(open_session)
    began = time.time()
    assert kumo.stop() == 0 and time.time() - began < 5


def test_retention_policies_delete_old_events(start_kumo):
    # A day is 8.64 s here.
    kumo = start_kumo("--time-scale", "0.0001")
    logs = kumo.client("logs")
    for group in ("/app/kept", "/app/short"):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = ms()
    # An event from two (scaled) days ago, and two from now: all kept while there is no policy.
    events = [{"timestamp": t - 2 * 8640, "message": "old"}, {"timestamp": t, "message": "new one"}, {"timestamp": t + 1, "message": "new two"}]
    for group in ("/app/kept", "/app/short"):
        assert "rejectedLogEventsInfo" not in logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    logs.put_retention_policy(logGroupName="/app/short", retentionInDays=1)
    # With one, an event older than it is refused, as on AWS.
    refused = logs.put_log_events(logGroupName="/app/short", logStreamName="s", logEvents=[{"timestamp": t - 2 * 8640, "message": "late"}])
    assert refused["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}

    def messages(group):
        return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]]

    def stream(group):
        return logs.describe_log_streams(logGroupName=group)["logStreams"][0]

    # The old event goes at the next sweep; the others once a (scaled) day has passed.
    assert wait_for(lambda: messages("/app/short") == ["new one", "new two"], timeout=5)
    assert stream("/app/short")["storedBytes"] == len("new one") + len("new two") + 2 * 26
    assert stream("/app/short")["firstEventTimestamp"] == t
    assert wait_for(lambda: messages("/app/short") == [], timeout=30)
    assert stream("/app/short")["storedBytes"] == 0 and "firstEventTimestamp" not in stream("/app/short")
    # Without a policy, nothing expires (AWS's default).
    assert messages("/app/kept") == ["old", "new one", "new two"]
    logs.delete_retention_policy(logGroupName="/app/short")
    logs.put_log_events(logGroupName="/app/short", logStreamName="s", logEvents=[{"timestamp": ms() - 2 * 8640, "message": "stays"}])
    time.sleep(1)
    assert messages("/app/short") == ["stays"]
