"""S3 event notifications delivered into SQS queues, as AWS's event JSON."""
import json

import pytest
from botocore.exceptions import ClientError


def queue_with_policy(sqs, name, bucket):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::%s" % bucket}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def drain(sqs, url):
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_object_events_reach_the_queue(kumo):
    s3, sqs = kumo.client("s3"), kumo.client("sqs")
    s3.create_bucket(Bucket="photos")
    url, arn = queue_with_policy(sqs, "uploads", "photos")
    bare = sqs.create_queue(QueueName="no-policy")["QueueUrl"]
    bare_arn = sqs.get_queue_attributes(QueueUrl=bare, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": bare_arn, "Events": ["s3:ObjectCreated:*"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={"QueueConfigurations": [
        {"Id": "new-jpgs", "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}, {"Name": "suffix", "Value": ".jpg"}]}}}]})
    test = drain(sqs, url)
    assert test[0]["Event"] == "s3:TestEvent" and test[0]["Bucket"] == "photos"
    s3.put_object(Bucket="photos", Key="in/summer holiday.jpg", Body=b"12345")
    s3.put_object(Bucket="photos", Key="in/notes.txt", Body=b"skip")
    s3.put_object(Bucket="photos", Key="out/x.jpg", Body=b"skip")
    s3.copy_object(Bucket="photos", Key="in/copy.jpg", CopySource={"Bucket": "photos", "Key": "in/summer holiday.jpg"})
    s3.delete_object(Bucket="photos", Key="in/copy.jpg")
    events = [r for body in drain(sqs, url) for r in body["Records"]]
    assert [e["eventName"] for e in events] == ["ObjectCreated:Put", "ObjectCreated:Copy", "ObjectRemoved:Delete"]
    put = events[0]
    assert put["eventSource"] == "aws:s3" and put["s3"]["bucket"]["name"] == "photos"
    assert put["s3"]["object"]["key"] == "in/summer+holiday.jpg" and put["s3"]["object"]["size"] == 5
    assert put["s3"]["object"]["eTag"] == "827ccb0eea8a706c4c34a16891f84e7b" and put["s3"]["configurationId"] == "new-jpgs"
    assert "sequencer" in put["s3"]["object"]


def test_a_changed_configuration_applies_to_the_next_write(kumo):
    """The configuration is cached with the bucket's settings: replacing or clearing it takes effect at once."""
    s3, sqs = kumo.client("s3"), kumo.client("sqs")
    s3.create_bucket(Bucket="changing")
    url, arn = queue_with_policy(sqs, "changes", "changing")

    def configure(*rules):
        s3.put_bucket_notification_configuration(Bucket="changing", NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": list(rules)}}}] if rules else []})
        drain(sqs, url)  # the test event

    def created(key):
        s3.put_object(Bucket="changing", Key=key, Body=b"x")
        return [r["s3"]["object"]["key"] for body in drain(sqs, url) for r in body.get("Records", [])]

    configure({"Name": "suffix", "Value": ".jpg"})
    assert created("a.jpg") == ["a.jpg"]
    assert created("a.txt") == []
    configure({"Name": "suffix", "Value": ".txt"})
    assert created("b.jpg") == []
    assert created("b.txt") == ["b.txt"]
    configure()
    assert created("c.txt") == []
