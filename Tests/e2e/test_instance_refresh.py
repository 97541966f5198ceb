"""Instance refresh end to end: a rolling replacement behind a real load balancer with no failed
requests, skip matching, checkpoints, a manual rollback, and an automatic rollback when the new
version's instances fail — under --time-scale."""
import base64
import collections
import threading

import botocore.exceptions
import pytest
import requests

from conftest import wait_for
from test_autoscaling import app, healthy, in_service
from test_ec2 import SERVER


def refresh(asg, group, refresh_id):
    return asg.describe_instance_refreshes(AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id])["InstanceRefreshes"][0]


def error_code(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def versions(asg, group):
    """Launch template version of each in-service instance, as Auto Scaling reports it."""
    ids = [i["InstanceId"] for i in in_service(asg, group)]
    rows = asg.describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"] if ids else []
    return sorted(r["LaunchTemplate"]["Version"] for r in rows)


def two_versions(ec2, second_user_data):
    """Launch template `plain` (version 1 stays up) and its version 2 with other user data."""
    lt = ec2.create_launch_template(LaunchTemplateName="plain", LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "UserData": base64.b64encode(b"#!/bin/sh\nsleep 600\n").decode()})["LaunchTemplate"]
    ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], SourceVersion="1",
                                       LaunchTemplateData={"UserData": base64.b64encode(second_user_data.encode()).decode()})
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
    return lt, ",".join(s["SubnetId"] for s in subnets)


def test_instance_refresh_replaces_every_instance_without_failed_requests(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb, asg, subnets, lt, lb, tg = app(kumo)
    elb.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"],
                                       Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "20"}])
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"}, TargetGroupARNs=[tg["TargetGroupArn"]])
    assert wait_for(lambda: len(healthy(elb, tg)) == 2, timeout=30)
    before = {i["InstanceId"] for i in in_service(asg, "web")}
    assert versions(asg, "web") == ["1", "1"]

    v2 = SERVER.replace("hello from", "v2 from")
    ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], SourceVersion="1",
                                       LaunchTemplateData={"UserData": base64.b64encode(v2.encode()).decode()})
    results = collections.Counter()
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                r = requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10)
                results["ok" if r.status_code == 200 else "failed %d" % r.status_code] += 1
            except requests.RequestException:
                results["failed"] += 1
    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        refresh_id = asg.start_instance_refresh(AutoScalingGroupName="web", Preferences={"InstanceWarmup": 10})["InstanceRefreshId"]
        assert error_code(asg.start_instance_refresh, AutoScalingGroupName="web")[0] == "InstanceRefreshInProgress"
        assert wait_for(lambda: refresh(asg, "web", refresh_id)["Status"] == "Successful", timeout=90)
    finally:
        stop.set()
        for w in workers:
            w.join()
    done = refresh(asg, "web", refresh_id)
    assert done["PercentageComplete"] == 100 and done["InstancesToUpdate"] == 0 and done["Preferences"]["MinHealthyPercentage"] == 90
    after = {i["InstanceId"] for i in in_service(asg, "web")}
    assert len(after) == 2 and not (after & before)
    assert versions(asg, "web") == ["2", "2"]
    tags = ec2.describe_instances(InstanceIds=sorted(after))["Reservations"][0]["Instances"][0]["Tags"]
    assert {"Key": "aws:ec2launchtemplate:version", "Value": "2"} in tags
    assert {requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10).text.split()[0] for _ in range(4)} == {"v2"}
    assert results["ok"] > 20 and sum(v for k, v in results.items() if k != "ok") == 0, results


def test_skip_matching_checkpoints_and_a_manual_rollback(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    lt, subnets = two_versions(ec2, "#!/bin/sh\necho v2\nsleep 600\n")
    asg.create_auto_scaling_group(AutoScalingGroupName="g", MinSize=0, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=subnets,
                                  LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "1"})
    assert wait_for(lambda: versions(asg, "g") == ["1", "1"])
    first = {i["InstanceId"] for i in in_service(asg, "g")}

    # Bad preferences, and nothing to roll back.
    assert error_code(asg.start_instance_refresh, AutoScalingGroupName="g", Preferences={"CheckpointDelay": 60})[0] == "ValidationError"
    assert error_code(asg.start_instance_refresh, AutoScalingGroupName="g", Preferences={"MaxHealthyPercentage": 250})[0] == "ValidationError"
    assert error_code(asg.start_instance_refresh, AutoScalingGroupName="g",
                      Preferences={"CheckpointPercentages": [50, 20]})[0] == "ValidationError"
    assert error_code(asg.start_instance_refresh, AutoScalingGroupName="g",
                      Preferences={"AlarmSpecification": {"Alarms": ["no-such-alarm"]}})[0] == "ValidationError"
    assert error_code(asg.rollback_instance_refresh, AutoScalingGroupName="g")[0] == "ActiveInstanceRefreshNotFound"

    # Skip matching: every instance already runs version 1, so nothing is replaced.
    same = asg.start_instance_refresh(AutoScalingGroupName="g", DesiredConfiguration={"LaunchTemplate": {
        "LaunchTemplateId": lt["LaunchTemplateId"], "Version": "1"}}, Preferences={"SkipMatching": True})["InstanceRefreshId"]
    assert wait_for(lambda: refresh(asg, "g", same)["Status"] == "Successful")
    assert refresh(asg, "g", same)["PercentageComplete"] == 100
    assert {i["InstanceId"] for i in in_service(asg, "g")} == first

    # To version 2 with a checkpoint at 50%: it pauses with one instance replaced...
    to_v2 = asg.start_instance_refresh(
        AutoScalingGroupName="g", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "2"}},
        Preferences={"SkipMatching": True, "MinHealthyPercentage": 100, "InstanceWarmup": 0, "CheckpointPercentages": [50, 100],
                     "CheckpointDelay": 3600})["InstanceRefreshId"]
    assert wait_for(lambda: "Checkpoint 1 of 2" in refresh(asg, "g", to_v2).get("StatusReason", ""), timeout=30)
    paused = refresh(asg, "g", to_v2)
    assert paused["Status"] == "InProgress" and paused["PercentageComplete"] == 50 and paused["InstancesToUpdate"] == 1
    assert versions(asg, "g") == ["1", "2"]
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]
    assert group["LaunchTemplate"]["Version"] == "1"  # the group takes version 2 only when the refresh succeeds

    # ...and a rollback puts version 1 back.
    asg.rollback_instance_refresh(AutoScalingGroupName="g")
    rolling = refresh(asg, "g", to_v2)
    assert rolling["Status"] in ("RollbackInProgress", "RollbackSuccessful")
    assert rolling["RollbackDetails"]["PercentageCompleteOnRollback"] == 50 and rolling["RollbackDetails"]["InstancesToUpdateOnRollback"] == 1
    assert wait_for(lambda: refresh(asg, "g", to_v2)["Status"] == "RollbackSuccessful", timeout=30)
    assert wait_for(lambda: versions(asg, "g") == ["1", "1"])
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]["LaunchTemplate"]["Version"] == "1"
    assert error_code(asg.rollback_instance_refresh, AutoScalingGroupName="g")[0] == "ActiveInstanceRefreshNotFound"

    # An alarm that goes off while the refresh waits at a checkpoint fails it, and AutoRollback undoes it.
    cw = kumo.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="guard", Namespace="App", MetricName="Errors", Statistic="Sum", Period=60, EvaluationPeriods=1,
                        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    guarded = asg.start_instance_refresh(
        AutoScalingGroupName="g", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "2"}},
        Preferences={"MinHealthyPercentage": 100, "InstanceWarmup": 0, "CheckpointPercentages": [50, 100], "CheckpointDelay": 3600,
                     "AutoRollback": True, "AlarmSpecification": {"Alarms": ["guard"]}})["InstanceRefreshId"]
    assert wait_for(lambda: "Checkpoint 1 of 2" in refresh(asg, "g", guarded).get("StatusReason", ""), timeout=30)
    cw.set_alarm_state(AlarmName="guard", StateValue="ALARM", StateReason="errors after the deploy")
    assert wait_for(lambda: refresh(asg, "g", guarded)["Status"] == "RollbackSuccessful", timeout=30)
    assert "guard" in refresh(asg, "g", guarded)["RollbackDetails"]["RollbackReason"]
    assert wait_for(lambda: versions(asg, "g") == ["1", "1"])

    # Without a desired configuration there is nothing to roll back to; it can still be cancelled.
    plain = asg.start_instance_refresh(AutoScalingGroupName="g", Preferences={"CheckpointPercentages": [50, 100]})["InstanceRefreshId"]
    code, message = error_code(asg.rollback_instance_refresh, AutoScalingGroupName="g")
    assert code == "IrreversibleInstanceRefresh" and "desired configuration" in message
    asg.cancel_instance_refresh(AutoScalingGroupName="g")
    assert refresh(asg, "g", plain)["Status"] == "Cancelled"


def test_a_failing_version_is_rolled_back_automatically(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg, cw = kumo.client("ec2"), kumo.client("autoscaling"), kumo.client("cloudwatch")
    lt, subnets = two_versions(ec2, "#!/bin/sh\nexit 1\n")
    asg.create_auto_scaling_group(AutoScalingGroupName="g", MinSize=1, MaxSize=3, DesiredCapacity=1, VPCZoneIdentifier=subnets,
                                  HealthCheckGracePeriod=0, LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "1"})
    assert wait_for(lambda: versions(asg, "g") == ["1"])
    original = in_service(asg, "g")[0]["InstanceId"]

    # Version 2's instances exit at once: they fail their health checks, and the refresh rolls back.
    to_v2 = asg.start_instance_refresh(
        AutoScalingGroupName="g", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "2"}},
        Preferences={"AutoRollback": True, "MinHealthyPercentage": 100, "InstanceWarmup": 60})["InstanceRefreshId"]
    assert wait_for(lambda: refresh(asg, "g", to_v2)["Status"] == "RollbackSuccessful", timeout=60)
    done = refresh(asg, "g", to_v2)
    assert "failed their health checks" in done["RollbackDetails"]["RollbackReason"]
    assert [i["InstanceId"] for i in in_service(asg, "g")] == [original]  # launched first, so the old instance never left
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]["LaunchTemplate"]["Version"] == "1"
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName="g")["Activities"]]
    assert any("rollback of the instance refresh started" in c for c in causes)

    # An alarm in ALARM fails a refresh that watches it (no rollback asked for: it just fails).
    cw.put_metric_alarm(AlarmName="errors", Namespace="App", MetricName="Errors", Statistic="Sum", Period=60, EvaluationPeriods=1,
                        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="breaching")
    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    watched = asg.start_instance_refresh(AutoScalingGroupName="g", Preferences={
        "AlarmSpecification": {"Alarms": ["errors"]}, "MinHealthyPercentage": 100})["InstanceRefreshId"]
    assert wait_for(lambda: refresh(asg, "g", watched)["Status"] == "Failed", timeout=20)
    assert "errors" in refresh(asg, "g", watched)["StatusReason"]
