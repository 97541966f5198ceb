"""CloudWatch end to end: metrics pushed with boto3 and the aws CLI, statistics, alarms that
move on pushed data under --time-scale, built-in metrics (real instance CPU), alarm actions."""
import datetime
import json
import time

import botocore.exceptions
import pytest

from conftest import aws_cli
from conftest import wait_for


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_put_metric_data_and_statistics(kumo):
    cw = kumo.client("cloudwatch")
    t = now().replace(second=0, microsecond=0) - datetime.timedelta(minutes=5)
    cw.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Page", "Value": "home"}], "Timestamp": t, "Value": 10, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Page", "Value": "home"}], "Timestamp": t + datetime.timedelta(seconds=10),
         "Values": [20, 30], "Counts": [1, 2], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Page", "Value": "home"}], "Timestamp": t + datetime.timedelta(minutes=1),
         "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40, "Maximum": 60}, "Unit": "Milliseconds"},
        {"MetricName": "Orders", "Timestamp": t, "Value": 1},
    ])
    stats = cw.get_metric_statistics(Namespace="Shop", MetricName="Latency", Dimensions=[{"Name": "Page", "Value": "home"}],
                                     StartTime=t, EndTime=t + datetime.timedelta(minutes=2), Period=60,
                                     Statistics=["Average", "Sum", "SampleCount", "Minimum", "Maximum"])["Datapoints"]
    stats.sort(key=lambda d: d["Timestamp"])
    assert len(stats) == 2
    first, second = stats
    assert (first["SampleCount"], first["Sum"], first["Minimum"], first["Maximum"]) == (4, 90, 10, 30)
    assert first["Average"] == 22.5 and first["Unit"] == "Milliseconds"
    assert (second["SampleCount"], second["Average"], second["Maximum"]) == (2, 50, 60)

    metrics = cw.list_metrics(Namespace="Shop")["Metrics"]
    assert sorted(m["MetricName"] for m in metrics) == ["Latency", "Orders"]
    assert cw.list_metrics(Dimensions=[{"Name": "Page", "Value": "home"}])["Metrics"][0]["MetricName"] == "Latency"
    data = cw.get_metric_data(StartTime=t, EndTime=t + datetime.timedelta(minutes=2), MetricDataQueries=[
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Latency", "Dimensions": [{"Name": "Page", "Value": "home"}]},
                                    "Period": 60, "Stat": "Maximum"}}])["MetricDataResults"][0]
    assert data["Values"] == [60, 30] and data["StatusCode"] == "Complete"

    out = aws_cli(kumo, "cloudwatch", "put-metric-data", "--namespace", "Shop", "--metric-name", "Orders", "--value", "3")
    assert out.returncode == 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Late", "Timestamp": now() + datetime.timedelta(hours=3), "Value": 1}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.get_metric_statistics(Namespace="Shop", MetricName="Latency", StartTime=t, EndTime=t + datetime.timedelta(minutes=2), Period=90,
                                 Statistics=["Average"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"

    # Second-resolution data older than three hours is kept at one minute, as CloudWatch keeps it.
    minute = now().replace(second=0, microsecond=0) - datetime.timedelta(hours=4)
    cw.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Clicks", "Timestamp": minute + datetime.timedelta(seconds=s), "Value": v, "StorageResolution": 1}
        for s, v in [(5, 1), (20, 2), (40, 3)]])

    def clicks(period):
        return cw.get_metric_statistics(Namespace="Shop", MetricName="Clicks", StartTime=minute, EndTime=minute + datetime.timedelta(minutes=1),
                                        Period=period, Statistics=["SampleCount", "Sum"])["Datapoints"]
    assert clicks(1) == []  # finer than what is kept for that age: no datapoints, as on AWS
    assert [(d["SampleCount"], d["Sum"], d["Timestamp"]) for d in clicks(60)] == [(3, 6, minute)]


def test_alarm_moves_with_pushed_data(start_kumo):
    kumo = start_kumo("--time-scale", "0.01")  # a 60 s period is 0.6 s
    cw = kumo.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="busy", Namespace="App", MetricName="Queue", Statistic="Maximum", Period=60, EvaluationPeriods=2,
                        DatapointsToAlarm=1, Threshold=100, ComparisonOperator="GreaterThanThreshold", TreatMissingData="missing",
                        AlarmActions=["arn:aws:sns:us-east-1:000000000000:ops"])
    alarm = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA" and alarm["AlarmArn"].endswith(":alarm:busy")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.put_metric_alarm(AlarmName="bad", Namespace="App", MetricName="Queue", Statistic="Maximum", Period=45, EvaluationPeriods=1,
                            Threshold=1, ComparisonOperator="GreaterThanThreshold")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"

    def push(value):
        cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "Queue", "Value": value}])

    def state():
        return cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]["StateValue"]

    push(500)
    assert wait_for(lambda: state() == "ALARM")
    reason = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]["StateReason"]
    assert reason.startswith("Threshold Crossed") and "greater than the threshold (100.0)" in reason
    # An SNS topic action is recorded in the alarm history (until Kumo serves SNS).
    actions = wait_for(lambda: cw.describe_alarm_history(AlarmName="busy", HistoryItemType="Action")["AlarmHistoryItems"])
    assert "arn:aws:sns:us-east-1:000000000000:ops" in actions[0]["HistorySummary"]
    deadline = time.time() + 10
    while state() != "OK" and time.time() < deadline:
        push(5)
        time.sleep(0.2)
    assert state() == "OK"
    history = cw.describe_alarm_history(AlarmName="busy", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history][:2] == ["Alarm updated from ALARM to OK", "Alarm updated from INSUFFICIENT_DATA to ALARM"]
    cw.set_alarm_state(AlarmName="busy", StateValue="ALARM", StateReason="testing")
    assert state() == "ALARM"
    cw.delete_alarms(AlarmNames=["busy"])
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_instance_cpu_is_measured_and_an_alarm_action_stops_the_instance(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")  # metrics every 3 s
    ec2, cw = kumo.client("ec2"), kumo.client("cloudwatch")
    burn = "#!/bin/sh\nexec python3 -c 'while True: pass'\n"
    iid = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, InstanceType="t2.micro", UserData=burn)["Instances"][0]["InstanceId"]
    dims = [{"Name": "InstanceId", "Value": iid}]
    cw.put_metric_alarm(AlarmName="hot", Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=dims, Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=50, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        AlarmActions=["arn:aws:automate:us-east-1:ec2:stop"])

    def cpu():
        pts = cw.get_metric_statistics(Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=dims,
                                       StartTime=now() - datetime.timedelta(minutes=5), EndTime=now() + datetime.timedelta(minutes=1),
                                       Period=60, Statistics=["Maximum"])["Datapoints"]
        return max((p["Maximum"] for p in pts), default=None)
    peak = wait_for(lambda: (cpu() or 0) > 50 and cpu(), timeout=30)
    assert peak and peak > 50, "a busy loop on one vCPU shows as CPU over 50%"

    def stopped():
        r = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return r["State"]["Name"] == "stopped"
    assert wait_for(stopped, timeout=30)
    actions = cw.describe_alarm_history(AlarmName="hot", HistoryItemType="Action")["AlarmHistoryItems"]
    assert actions and actions[0]["HistorySummary"] == "Successfully executed action arn:aws:automate:us-east-1:ec2:stop"
    assert "AWS/EC2" in json.dumps(cw.list_metrics(Namespace="AWS/EC2")["Metrics"])


def test_metric_math_in_get_metric_data_and_in_alarms(start_kumo):
    kumo = start_kumo("--time-scale", "0.01")
    cw = kumo.client("cloudwatch")
    t = now().replace(second=0, microsecond=0) - datetime.timedelta(minutes=5)
    data = []
    for i, (errors, requests) in enumerate([(1, 10), (3, 20), (None, 40), (8, 80)]):
        stamp = t + datetime.timedelta(minutes=i)
        if errors is not None:
            data.append({"MetricName": "Errors", "Value": errors, "Timestamp": stamp})
        data.append({"MetricName": "Requests", "Value": requests, "Timestamp": stamp})
    cw.put_metric_data(Namespace="Web", MetricData=data)

    def stat(qid, name):
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "Web", "MetricName": name}, "Period": 60, "Stat": "Sum"}, "ReturnData": False}
    result = cw.get_metric_data(StartTime=t, EndTime=t + datetime.timedelta(minutes=4), ScanBy="TimestampAscending", MetricDataQueries=[
        stat("e", "Errors"), stat("r", "Requests"),
        {"Id": "rate", "Expression": "100 * e / r", "Label": "Error rate"},
        {"Id": "filled", "Expression": "FILL(e, LINEAR)"},
        {"Id": "total", "Expression": "SUM(METRICS())"},
        {"Id": "peak", "Expression": "MAX(r)"}])["MetricDataResults"]
    by_id = {r["Id"]: r for r in result}
    assert set(by_id) == {"rate", "filled", "total", "peak"}  # ReturnData false hides e and r
    assert by_id["rate"]["Label"] == "Error rate" and by_id["rate"]["Values"] == [10.0, 15.0, 10.0]
    assert by_id["filled"]["Values"] == [1.0, 3.0, 5.5, 8.0]
    assert by_id["total"]["Values"] == [11.0, 23.0, 40.0, 88.0]
    assert by_id["peak"]["Values"] == [80.0] * 4  # a scalar, at every period
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.get_metric_data(StartTime=t, EndTime=t + datetime.timedelta(minutes=4), MetricDataQueries=[
            stat("e", "Errors"), {"Id": "bad", "Expression": "e +"}])
    assert e.value.response["Error"]["Code"] == "ValidationError" and "Error in expression bad" in e.value.response["Error"]["Message"]

    # A metric math alarm: the error rate of pushed data, evaluated on the scaled clock.
    cw.put_metric_alarm(AlarmName="error-rate", EvaluationPeriods=1, Threshold=20, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="missing", Metrics=[
                            {"Id": "e", "MetricStat": {"Metric": {"Namespace": "Live", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}, "ReturnData": False},
                            {"Id": "r", "MetricStat": {"Metric": {"Namespace": "Live", "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}, "ReturnData": False},
                            {"Id": "rate", "Expression": "100 * e / r", "ReturnData": True}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.put_metric_alarm(AlarmName="two", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold", Metrics=[
            {"Id": "a", "Expression": "1", "ReturnData": True}, {"Id": "b", "Expression": "2", "ReturnData": True}])
    assert e.value.response["Error"]["Code"] == "ValidationError"

    def state():
        return cw.describe_alarms(AlarmNames=["error-rate"])["MetricAlarms"][0]["StateValue"]

    def push(errors, requests):
        cw.put_metric_data(Namespace="Live", MetricData=[{"MetricName": "Errors", "Value": errors}, {"MetricName": "Requests", "Value": requests}])

    deadline = time.time() + 15
    while state() != "ALARM" and time.time() < deadline:
        push(50, 100)
        time.sleep(0.2)
    assert state() == "ALARM"
    deadline = time.time() + 15
    while state() != "OK" and time.time() < deadline:
        push(1, 100)
        time.sleep(0.2)
    assert state() == "OK"
    alarm = cw.describe_alarms(AlarmNames=["error-rate"])["MetricAlarms"][0]
    assert [m["Id"] for m in alarm["Metrics"]] == ["e", "r", "rate"]


def test_composite_alarm_follows_its_children(start_kumo):
    kumo = start_kumo("--time-scale", "0.01")
    cw = kumo.client("cloudwatch")
    for name in ["cpu", "mem"]:
        cw.put_metric_alarm(AlarmName=name, Namespace="App", MetricName=name, Statistic="Average", Period=60, EvaluationPeriods=1,
                            Threshold=90, ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("cpu") AND ALARM("disk")')
    assert e.value.response["Error"]["Code"] == "ValidationError" and "[disk]" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("cpu") AND')
    assert e.value.response["Error"]["Code"] == "ValidationError"
    cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("cpu") AND NOT OK(mem)', AlarmDescription="cpu and memory")
    listed = cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert [a["AlarmName"] for a in listed] == ["both"] and listed[0]["AlarmRule"] == 'ALARM("cpu") AND NOT OK(mem)'
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["cpu", "mem"]
    assert cw.describe_alarms()["CompositeAlarms"] == []

    def state():
        return cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]["StateValue"]
    cw.set_alarm_state(AlarmName="cpu", StateValue="ALARM", StateReason="test")
    cw.set_alarm_state(AlarmName="mem", StateValue="ALARM", StateReason="test")
    assert wait_for(lambda: state() == "ALARM")
    cw.set_alarm_state(AlarmName="mem", StateValue="OK", StateReason="test")
    assert wait_for(lambda: state() == "OK")
    history = cw.describe_alarm_history(AlarmName="both", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    # Created in INSUFFICIENT_DATA (OK at the next pass, while the rule is false), then ALARM, then OK.
    summaries = [h["HistorySummary"] for h in history]
    assert summaries[0] == "Alarm updated from ALARM to OK" and summaries[1].endswith(" to ALARM")
