"""SQS through boto3 and the aws CLI: queues, messages, visibility, long polling, FIFO, dead-letter queues."""
import concurrent.futures
import json
import signal
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import aws_cli


def code(e):
    return e.value.response["Error"]["Code"]


def receive_within(sqs, url, seconds=10, **kw):
    """Receives until a message comes or `seconds` pass (long polls are scaled by --time-scale)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20, **kw).get("Messages", [])
        if msgs:
            return msgs
    return []


def test_queues(kumo):
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert url.endswith("/000000000000/jobs")
    assert sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "46"})
    assert code(e) in ("QueueNameExists", "QueueAlreadyExists")
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="bad name!")
    assert code(e) in ("InvalidParameterValueException", "InvalidParameterValue")
    assert sqs.get_queue_url(QueueName="jobs")["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName="nope")
    assert code(e) in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
    sqs.create_queue(QueueName="jobs-2")
    sqs.create_queue(QueueName="other")
    assert len(sqs.list_queues(QueueNamePrefix="jobs")["QueueUrls"]) == 2
    page = sqs.list_queues(MaxResults=2)
    assert len(page["QueueUrls"]) == 2 and "NextToken" in page
    assert len(sqs.list_queues(MaxResults=2, NextToken=page["NextToken"])["QueueUrls"]) == 1
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45" and attrs["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:jobs"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0", "MaximumMessageSize": "2048"})
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"NotAThing": "1"})
    assert code(e) == "InvalidAttributeName"
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert code(e) == "InvalidAttributeValue" and "VisibilityTimeout" in e.value.response["Error"]["Message"]
    for bad in ["not json", json.dumps({"Version": "2012-10-17"}), json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "sqs:*"}]})]:
        with pytest.raises(ClientError) as e:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": bad})
        assert code(e) == "InvalidAttributeValue" and e.value.response["Error"]["Message"] == "Invalid value for the parameter Policy."
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:x"})})
    assert "mandatory attribute: maxReceiveCount" in e.value.response["Error"]["Message"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "sqs:SendMessage", "Resource": "*"}]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"] == policy
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})  # an empty policy removes it
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    sqs.tag_queue(QueueUrl=url, Tags={"team": "web"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "web"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=url)
    out = json.loads(aws_cli(kumo, "sqs", "list-queues").stdout)
    assert len(out["QueueUrls"]) == 2


def test_send_receive_delete_with_attributes(kumo):
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="mail")["QueueUrl"]
    # boto3 checks MD5OfMessageBody and MD5OfMessageAttributes itself.
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "welcome"},
        "n": {"DataType": "Number", "StringValue": "3"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    assert len(got) == 1 and got[0]["Body"] == "hello" and got[0]["MessageId"] == sent["MessageId"]
    assert got[0]["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01"
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # invisible now
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
    assert code(e) == "ReceiptHandleIsInvalid"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 300_000)
    assert code(e) in ("InvalidParameterValueException", "InvalidParameterValue")
    r = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m%d" % i} for i in range(10)])
    assert len(r["Successful"]) == 10
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}])
    assert code(e) in ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(11)])
    assert code(e) in ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["m%d" % i for i in range(10)]
    r = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert len(r["Successful"]) == 10
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "0"
    sqs.purge_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.purge_queue(QueueUrl=url)
    assert code(e) in ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress")


def test_visibility_timeout_and_redelivery(start_kumo):
    k = start_kumo("--time-scale", "0.05")  # 30 s visibility ≈ 1.5 s
    sqs = k.client("sqs")
    url = sqs.create_queue(QueueName="vis")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    second = receive_within(sqs, url, AttributeNames=["ApproximateReceiveCount"])[0]
    assert second["MessageId"] == first["MessageId"] and second["Attributes"]["ApproximateReceiveCount"] == "2"
    # The first receipt is stale: deleting with it leaves the message.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_long_poll_wakes_on_send(kumo):
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="wake")["QueueUrl"]
    result = {}

    def receive():
        start = time.monotonic()
        result["messages"] = kumo.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        result["took"] = time.monotonic() - start

    t = threading.Thread(target=receive)
    t.start()
    time.sleep(0.5)
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="ping")
    t.join(timeout=15)
    assert result["messages"][0]["Body"] == "ping"
    assert result["took"] < 3, result
    start = time.monotonic()
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    assert 0.9 < time.monotonic() - start < 3
    assert sent_at

    # A long poll in flight does not hold Kumo's shutdown up: it is answered (empty) at once.
    t = threading.Thread(target=receive)
    t.start()
    time.sleep(0.5)
    began = time.monotonic()
    assert kumo.stop() == 0 and time.monotonic() - began < 5
    t.join(timeout=5)
    assert result["messages"] == [] and result["took"] < 5


def test_fifo_order_dedup_and_groups(kumo):
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=url, MessageBody="no group")
    for i in range(5):
        r = sqs.send_message(QueueUrl=url, MessageBody="a%d" % i, MessageGroupId="A", MessageDeduplicationId="a%d" % i)
        assert len(r["SequenceNumber"]) == 20
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0 again", MessageGroupId="A", MessageDeduplicationId="a0")
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B", MessageDeduplicationId="b0")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]
    assert [m["Body"] for m in got] == ["a0", "a1", "a2"]
    assert dup["MessageId"] == got[0]["MessageId"]
    # Group A is blocked while its messages are in flight; group B is not.
    more = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in more] == ["b0"]
    for m in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")["Messages"]
    assert [m["Body"] for m in rest] == ["a3", "a4"]
    # A retried receive with the same attempt id gets the same messages and receipt handles...
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")["Messages"]
    assert [(m["Body"], m["ReceiptHandle"]) for m in again] == [(m["Body"], m["ReceiptHandle"]) for m in rest]
    # ...until one of them is deleted; then it is a new receive (group A is in flight: nothing).
    sqs.delete_message(QueueUrl=url, ReceiptHandle=rest[1]["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1").get("Messages", []) == []


def test_dead_letter_queue(start_kumo):
    k = start_kumo("--time-scale", "0.01")
    sqs = k.client("sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName="work", Attributes={
        "VisibilityTimeout": "10", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    missing = json.dumps({"deadLetterTargetArn": dlq_arn + "-gone", "maxReceiveCount": 2})
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="orphan", Attributes={"RedrivePolicy": missing})
    assert "does not exist" in e.value.response["Error"]["Message"]
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="refused", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
    assert code(e) in ("InvalidParameterValueException", "InvalidParameterValue")
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    for _ in range(2):
        assert receive_within(sqs, src)[0]["Body"] == "poison"
    # The third receive finds it past maxReceiveCount and moves it.
    assert receive_within(sqs, src, seconds=1) == []
    moved = receive_within(sqs, dlq, VisibilityTimeout=0)
    assert moved[0]["Body"] == "poison"
    # Redrive it back to where it came from.
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    task = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
    assert task["TaskHandle"] == handle and task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 1
    back = receive_within(sqs, src, AttributeNames=["ApproximateReceiveCount"])
    assert back[0]["Body"] == "poison" and back[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    with pytest.raises(ClientError):
        sqs.cancel_message_move_task(TaskHandle=handle)


def _consume(args):
    """One consumer process: receives and deletes until the queue stays empty; returns message ids and bodies."""
    endpoint, url = args
    import boto3
    client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    got = []
    empty = 0
    while empty < 3:
        msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not msgs:
            empty += 1
            continue
        empty = 0
        got.extend((m["MessageId"], m["Body"]) for m in msgs)
        client.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    return got


def test_producer_and_consumer_processes_exchange_10000_messages(kumo):
    import multiprocessing
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="bulk", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    total = 10_000

    def produce(start):
        client = kumo.client("sqs")
        for base in range(start, start + total // 4, 10):
            r = client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(base + i)} for i in range(10)])
            assert len(r["Successful"]) == 10

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        consumers = pool.map_async(_consume, [(kumo.url, url)] * 4)
        with concurrent.futures.ThreadPoolExecutor(4) as producers:
            list(producers.map(produce, range(0, total, total // 4)))
        results = consumers.get(timeout=300)
    ids = [i for r in results for i, _ in r]
    bodies = [b for r in results for _, b in r]
    assert len(ids) == len(set(ids)), "a message was delivered twice within its visibility timeout"
    assert sorted(map(int, bodies)) == list(range(total)), "messages were lost"


def test_fifo_order_holds_under_concurrent_consumers(kumo):
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="ledger.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for n in range(40):
        for g in "ABC":
            sqs.send_message(QueueUrl=url, MessageBody="%s-%d" % (g, n), MessageGroupId=g)
    seen = {g: [] for g in "ABC"}
    lock = threading.Lock()

    def consume(_):
        client = kumo.client("sqs")
        empty = 0
        while empty < 3:
            msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=4, WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                empty += 1
                continue
            empty = 0
            with lock:
                for m in msgs:
                    g, n = m["Body"].split("-")
                    seen[g].append(int(n))
            for m in msgs:
                client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(consume, range(4)))
    for g in "ABC":
        assert seen[g] == list(range(40)), (g, seen[g])


def test_messages_survive_kill_9(start_kumo, data_dir):
    k = start_kumo(data_dir=data_dir)
    sqs = k.client("sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="keep me")
    k.proc.send_signal(signal.SIGKILL)
    k.proc.wait()
    k2 = start_kumo(data_dir=data_dir)
    url2 = k2.client("sqs").get_queue_url(QueueName="durable")["QueueUrl"]
    assert k2.client("sqs").receive_message(QueueUrl=url2)["Messages"][0]["Body"] == "keep me"


def test_query_protocol_clients_and_legacy_error_codes(kumo):
    import requests
    from sigv4 import sign
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="legacy")["QueueUrl"]
    body = b"Action=SendMessage&Version=2012-11-05&MessageBody=from+query"
    headers = sign("POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, body, "sqs")
    r = requests.post(url, data=body, headers=headers, timeout=10)
    assert r.status_code == 200 and b"<MD5OfMessageBody>" in r.content, r.text
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "from query"
    body = b"Action=GetQueueUrl&Version=2012-11-05&QueueName=nope"
    headers = sign("POST", kumo.url + "/", {"Content-Type": "application/x-www-form-urlencoded"}, body, "sqs")
    r = requests.post(kumo.url + "/", data=body, headers=headers, timeout=10)
    assert r.status_code == 400 and b"<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in r.content, r.text
    # JSON clients get the modern code, and the legacy one in x-amzn-query-error.
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName="nope")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_queue_metrics_are_published(kumo):
    import requests
    sqs = kumo.client("sqs")
    url = sqs.create_queue(QueueName="metered")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    m = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    text = requests.get(kumo.url + "/_kumo/metrics", timeout=10).text
    series = lambda family, metric: 'kumo_aws_metric%s{namespace="AWS/SQS",metric="%s",QueueName="metered"}' % (family, metric)
    assert series("_total", "NumberOfMessagesSent") + " 3.0" in text
    assert series("_total", "NumberOfMessagesReceived") + " 1.0" in text
    assert series("_total", "NumberOfMessagesDeleted") + " 1.0" in text
    assert series("", "ApproximateNumberOfMessagesVisible") + " 2.0" in text
    assert series("", "ApproximateNumberOfMessagesNotVisible") + " 0.0" in text


def test_cross_account_access_follows_the_queue_policy(start_kumo):
    import json as _json
    kumo = start_kumo("--no-auth")
    owner = kumo.client("sqs", key="111111111111", secret="x")
    other = kumo.client("sqs", key="222222222222", secret="x")
    url = owner.create_queue(QueueName="shared")["QueueUrl"]
    assert "/111111111111/shared" in url
    with pytest.raises(ClientError) as e:
        other.send_message(QueueUrl=url, MessageBody="hi")
    assert e.value.response["Error"]["Code"] == "AccessDenied" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    arn = owner.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "sqs:SendMessage", "Resource": arn},
        {"Effect": "Allow", "Principal": {"AWS": "333333333333"}, "Action": "sqs:*", "Resource": "arn:aws:sqs:*:111111111111:shared"},
        {"Effect": "Deny", "Principal": {"AWS": "333333333333"}, "Action": "sqs:PurgeQueue", "Resource": arn}]})})
    other.send_message(QueueUrl=url, MessageBody="hi from 2222")
    with pytest.raises(ClientError) as e:
        other.receive_message(QueueUrl=url)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    third = kumo.client("sqs", key="333333333333", secret="x")
    assert third.get_queue_url(QueueName="shared", QueueOwnerAWSAccountId="111111111111")["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        other.get_queue_url(QueueName="shared", QueueOwnerAWSAccountId="111111111111")  # only SendMessage was granted
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    got = third.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in got] == ["hi from 2222"]
    with pytest.raises(ClientError) as e:
        third.purge_queue(QueueUrl=url)  # an explicit Deny wins over the Allow of sqs:*
    assert e.value.response["Error"]["Code"] == "AccessDenied"
