"""Auto Scaling end to end: groups kept at capacity with real instances behind a real load
balancer, replacement of failed instances, and the loop CloudWatch CPU alarm → target
tracking policy → more instances, under --time-scale."""
import base64
import collections
import time

import botocore.exceptions
import pytest
import requests

from conftest import wait_for
from test_ec2 import SERVER

BUSY = """#!/bin/sh
python3 -c 'while True: pass' &
mkdir -p www && echo "busy $KUMO_INSTANCE_ID" > www/index.html
cd www && exec python3 -m http.server 8080 --bind "$KUMO_BIND_ADDRESS"
"""


def app(kumo, user_data=SERVER, **tg_settings):
    ec2, elb, asg = kumo.client("ec2"), kumo.client("elbv2"), kumo.client("autoscaling")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
    lt = ec2.create_launch_template(LaunchTemplateName="app", LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "InstanceType": "t2.micro", "UserData": base64.b64encode(user_data.encode()).decode()})["LaunchTemplate"]
    lb = elb.create_load_balancer(Name="app", Subnets=[s["SubnetId"] for s in subnets])["LoadBalancers"][0]
    settings = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2)
    settings.update(tg_settings)
    tg = elb.create_target_group(Name="app", Protocol="HTTP", Port=8080, VpcId=subnets[0]["VpcId"], **settings)["TargetGroups"][0]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    return ec2, elb, asg, subnets, lt, lb, tg


def plain_template(ec2, zones):
    """A launch template `plain` whose instances just stay up; returns the first `zones` default subnets."""
    ec2.create_launch_template(LaunchTemplateName="plain", LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "UserData": base64.b64encode(b"#!/bin/sh\nsleep 600\n").decode()})
    return sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:zones]


def in_service(asg, name):
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return [i for i in g["Instances"] if i["LifecycleState"] == "InService"]


def healthy(elb, tg):
    return [t["Target"]["Id"] for t in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
            if t["TargetHealth"]["State"] == "healthy"]


def test_group_keeps_capacity_behind_the_load_balancer_and_replaces_failures(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb, asg, subnets, lt, lb, tg = app(kumo)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"}, TargetGroupARNs=[tg["TargetGroupArn"]],
        HealthCheckType="ELB", HealthCheckGracePeriod=60, Tags=[{"Key": "team", "Value": "web", "PropagateAtLaunch": True}])
    assert wait_for(lambda: len(in_service(asg, "web")) == 2, timeout=20)
    members = in_service(asg, "web")
    assert sorted(i["AvailabilityZone"] for i in members) == sorted(s["AvailabilityZone"] for s in subnets)
    assert wait_for(lambda: len(healthy(elb, tg)) == 2, timeout=20)
    answers = collections.Counter(requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10).text for _ in range(4))
    assert len(answers) == 2
    tags = ec2.describe_instances(InstanceIds=[members[0]["InstanceId"]])["Reservations"][0]["Instances"][0]["Tags"]
    assert {"Key": "team", "Value": "web"} in tags and {"Key": "aws:autoscaling:groupName", "Value": "web"} in tags

    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    assert wait_for(lambda: len(in_service(asg, "web")) == 3, timeout=20)

    # A stopped instance fails its health check and is replaced.
    victim = members[0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[victim])
    assert wait_for(lambda: victim not in [i["InstanceId"] for i in in_service(asg, "web")] and len(in_service(asg, "web")) == 3, timeout=30)
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]]
    assert any("taken out of service in response to an EC2 health check" in c for c in causes)
    assert any("increasing the capacity from" in c for c in causes)

    asg.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=1, DesiredCapacity=1)
    assert wait_for(lambda: len(asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"]) == 1,
                    timeout=30)

    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.delete_auto_scaling_group(AutoScalingGroupName="web")
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    left = [i["InstanceId"] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"]]
    asg.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
    assert wait_for(lambda: ec2.describe_instances(InstanceIds=left)["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated")


def test_bad_input(kumo):
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    lt = ec2.create_launch_template(LaunchTemplateName="xyz", LaunchTemplateData={"ImageId": "ami-kumo-linux"})["LaunchTemplate"]
    base = dict(AutoScalingGroupName="g", VPCZoneIdentifier=subnet, LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]})
    for extra, text in [(dict(MinSize=3, MaxSize=1), "Max bound, 1, must be greater than or equal to min bound, 3"),
                        (dict(MinSize=1, MaxSize=2, DesiredCapacity=5), "Desired capacity:5 must be between the specified min size:1 and max size:2")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            asg.create_auto_scaling_group(**base, **extra)
        assert e.value.response["Error"]["Code"] == "ValidationError" and e.value.response["Error"]["Message"] == text
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.create_auto_scaling_group(**dict(base, LaunchTemplate={"LaunchTemplateName": "missing"}), MinSize=0, MaxSize=1)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.create_auto_scaling_group(**base, MinSize=0, MaxSize=1,
                                      TargetGroupARNs=["arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0123456789abcdef"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    asg.create_auto_scaling_group(**base, MinSize=0, MaxSize=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.create_auto_scaling_group(**base, MinSize=0, MaxSize=1)
    assert e.value.response["Error"]["Code"] == "AlreadyExists"


def test_cpu_load_scales_the_group_out(start_kumo):
    # A minute of AWS time is 1.2 s: metrics, alarm periods and cooldowns all follow.
    kumo = start_kumo("--time-scale", "0.02")
    ec2, elb, asg, subnets, lt, lb, tg = app(kumo, user_data=BUSY)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="cpu", MinSize=1, MaxSize=3, DesiredCapacity=1, VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
        LaunchTemplate={"LaunchTemplateName": "app"}, TargetGroupARNs=[tg["TargetGroupArn"]])
    policy = asg.put_scaling_policy(AutoScalingGroupName="cpu", PolicyName="cpu50", PolicyType="TargetTrackingScaling",
                                    TargetTrackingConfiguration={"TargetValue": 50.0, "PredefinedMetricSpecification": {
                                        "PredefinedMetricType": "ASGAverageCPUUtilization"}})
    names = [a["AlarmName"] for a in policy["Alarms"]]
    assert any("AlarmHigh" in n for n in names) and any("AlarmLow" in n for n in names)
    cw = kumo.client("cloudwatch")
    assert len(cw.describe_alarms(AlarmNames=names)["MetricAlarms"]) == 2

    # Each instance burns a full vCPU: the group's average CPU stays far above 50%, so it grows to its maximum.
    assert wait_for(lambda: len(in_service(asg, "cpu")) == 3, timeout=60)
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName="cpu")["Activities"]]
    assert any("AlarmHigh" in c and "triggered policy cpu50" in c for c in causes)
    high = [n for n in names if "AlarmHigh" in n][0]
    assert cw.describe_alarms(AlarmNames=[high])["MetricAlarms"][0]["StateValue"] == "ALARM"
    assert wait_for(lambda: len(healthy(elb, tg)) == 3, timeout=30)


def test_suspended_processes_and_scale_in_protection(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    subnets = plain_template(ec2, zones=2)
    asg.create_auto_scaling_group(AutoScalingGroupName="g", MinSize=0, MaxSize=4, DesiredCapacity=2, LaunchTemplate={"LaunchTemplateName": "plain"},
                                  VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets))
    assert wait_for(lambda: len(in_service(asg, "g")) == 2)
    asg.suspend_processes(AutoScalingGroupName="g", ScalingProcesses=["Launch"])
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]
    assert [p["ProcessName"] for p in group["SuspendedProcesses"]] == ["Launch"]
    asg.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=3)
    time.sleep(1)
    assert len(in_service(asg, "g")) == 2
    asg.resume_processes(AutoScalingGroupName="g", ScalingProcesses=["Launch"])
    assert wait_for(lambda: len(in_service(asg, "g")) == 3)

    keep = in_service(asg, "g")[0]["InstanceId"]
    asg.set_instance_protection(AutoScalingGroupName="g", InstanceIds=[keep], ProtectedFromScaleIn=True)
    asg.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=1)
    assert wait_for(lambda: [i["InstanceId"] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]["Instances"]] == [keep])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.suspend_processes(AutoScalingGroupName="g", ScalingProcesses=["Nap"])
    assert e.value.response["Error"]["Code"] == "ValidationError"

    # Attach a running instance, then detach it again: it joins and leaves, and keeps running.
    loose = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, UserData="#!/bin/sh\nsleep 600\n")["Instances"][0]["InstanceId"]
    assert wait_for(lambda: ec2.describe_instances(InstanceIds=[loose])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running")
    asg.attach_instances(AutoScalingGroupName="g", InstanceIds=[loose])
    assert wait_for(lambda: loose in [i["InstanceId"] for i in in_service(asg, "g")])
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]["DesiredCapacity"] == 2
    asg.detach_instances(AutoScalingGroupName="g", InstanceIds=[loose], ShouldDecrementDesiredCapacity=True)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1 and loose not in [i["InstanceId"] for i in group["Instances"]]
    assert ec2.describe_instances(InstanceIds=[loose])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


def test_scheduled_actions_and_termination_policies(start_kumo):
    import datetime
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    subnets = plain_template(ec2, zones=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.create_auto_scaling_group(AutoScalingGroupName="s", MinSize=0, MaxSize=4, DesiredCapacity=1, LaunchTemplate={"LaunchTemplateName": "plain"},
                                      VPCZoneIdentifier=subnets[0]["SubnetId"], TerminationPolicies=["Cheapest"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    asg.create_auto_scaling_group(AutoScalingGroupName="s", MinSize=0, MaxSize=4, DesiredCapacity=1, LaunchTemplate={"LaunchTemplateName": "plain"},
                                  VPCZoneIdentifier=subnets[0]["SubnetId"], TerminationPolicies=["NewestInstance"])
    assert wait_for(lambda: len(in_service(asg, "s")) == 1)
    first = in_service(asg, "s")[0]["InstanceId"]

    # A one-time action a moment from now grows the group to 3.
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    asg.put_scheduled_update_group_action(AutoScalingGroupName="s", ScheduledActionName="grow", StartTime=soon, DesiredCapacity=3)
    listed = asg.describe_scheduled_actions(AutoScalingGroupName="s")["ScheduledUpdateGroupActions"]
    assert [a["ScheduledActionName"] for a in listed] == ["grow"] and listed[0]["DesiredCapacity"] == 3
    assert "scheduledUpdateGroupAction" in listed[0]["ScheduledActionARN"]
    assert wait_for(lambda: len(in_service(asg, "s")) == 3, timeout=30)
    assert asg.describe_scheduled_actions(AutoScalingGroupName="s")["ScheduledUpdateGroupActions"] == []  # done, gone
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName="s")["Activities"]]
    assert any("the scheduled action grow executed" in c for c in causes)

    # NewestInstance: scaling in to 1 keeps the first instance.
    asg.set_desired_capacity(AutoScalingGroupName="s", DesiredCapacity=1)
    assert wait_for(lambda: [i["InstanceId"] for i in asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["s"])["AutoScalingGroups"][0]["Instances"]] == [first], timeout=30)

    # A recurrence (every minute, a 3 s interval at this time scale) runs again and again.
    asg.put_scheduled_update_group_action(AutoScalingGroupName="s", ScheduledActionName="tick", Recurrence="* * * * *", MaxSize=2)
    assert wait_for(lambda: asg.describe_auto_scaling_groups(AutoScalingGroupNames=["s"])["AutoScalingGroups"][0]["MaxSize"] == 2, timeout=20)
    assert len(asg.describe_scheduled_actions(AutoScalingGroupName="s")["ScheduledUpdateGroupActions"]) == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.put_scheduled_update_group_action(AutoScalingGroupName="s", ScheduledActionName="bad", Recurrence="61 * * * *", MinSize=1)
    assert e.value.response["Error"]["Code"] == "ValidationError" and "cron" in e.value.response["Error"]["Message"]
    asg.delete_scheduled_action(AutoScalingGroupName="s", ScheduledActionName="tick")
    assert asg.describe_scheduled_actions(AutoScalingGroupName="s")["ScheduledUpdateGroupActions"] == []


def test_lifecycle_hooks_hold_instances_until_completed(start_kumo):
    import json as _json
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg, sqs = kumo.client("ec2"), kumo.client("autoscaling"), kumo.client("sqs")
    subnets = plain_template(ec2, zones=1)
    asg.create_auto_scaling_group(AutoScalingGroupName="h", MinSize=0, MaxSize=2, DesiredCapacity=0, LaunchTemplate={"LaunchTemplateName": "plain"},
                                  VPCZoneIdentifier=subnets[0]["SubnetId"])
    queue = sqs.create_queue(QueueName="hooks")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def messages():
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return [_json.loads(m["Body"]) for m in got]

    asg.put_lifecycle_hook(AutoScalingGroupName="h", LifecycleHookName="warm-up", LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
                           HeartbeatTimeout=600, DefaultResult="ABANDON", NotificationTargetARN=queue_arn,
                           RoleARN="arn:aws:iam::000000000000:role/hooks", NotificationMetadata="hello")
    asg.put_lifecycle_hook(AutoScalingGroupName="h", LifecycleHookName="drain", LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                           HeartbeatTimeout=30, DefaultResult="CONTINUE")
    assert wait_for(lambda: any(m.get("Event") == "autoscaling:TEST_NOTIFICATION" for m in messages()))
    hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName="h")["LifecycleHooks"]
    assert sorted(h["LifecycleHookName"] for h in hooks) == ["drain", "warm-up"] and hooks[1]["DefaultResult"] == "ABANDON"

    asg.set_desired_capacity(AutoScalingGroupName="h", DesiredCapacity=1)

    def states():
        return [i["LifecycleState"] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["h"])["AutoScalingGroups"][0]["Instances"]]
    assert wait_for(lambda: states() == ["Pending:Wait"], timeout=20)
    launch = wait_for(lambda: [m for m in messages() if m.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_LAUNCHING"])
    assert launch[0]["NotificationMetadata"] == "hello" and launch[0]["LifecycleHookName"] == "warm-up"
    time.sleep(1)
    assert states() == ["Pending:Wait"]  # held until the hook completes
    asg.complete_lifecycle_action(AutoScalingGroupName="h", LifecycleHookName="warm-up", LifecycleActionResult="CONTINUE",
                                  LifecycleActionToken=launch[0]["LifecycleActionToken"])
    assert wait_for(lambda: states() == ["InService"], timeout=20)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.complete_lifecycle_action(AutoScalingGroupName="h", LifecycleHookName="warm-up", LifecycleActionResult="CONTINUE",
                                      InstanceId=launch[0]["EC2InstanceId"])
    assert e.value.response["Error"]["Code"] == "ValidationError"

    # The termination hook holds the instance in Terminating:Wait; its 30 s timeout (1.5 s here) continues.
    asg.set_desired_capacity(AutoScalingGroupName="h", DesiredCapacity=0)
    assert wait_for(lambda: states() == ["Terminating:Wait"], timeout=20)
    assert wait_for(lambda: states() == [], timeout=20)
    iid = launch[0]["EC2InstanceId"]
    assert wait_for(lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated")
    asg.delete_lifecycle_hook(AutoScalingGroupName="h", LifecycleHookName="drain")
    assert [h["LifecycleHookName"] for h in asg.describe_lifecycle_hooks(AutoScalingGroupName="h")["LifecycleHooks"]] == ["warm-up"]


def test_traffic_sources_join_and_leave_a_running_group(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, elb, asg, subnets, lt, lb, tg = app(kumo)
    asg.create_auto_scaling_group(AutoScalingGroupName="t", MinSize=1, MaxSize=2, DesiredCapacity=1, LaunchTemplate={"LaunchTemplateName": "app"},
                                  VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets))
    assert wait_for(lambda: len(in_service(asg, "t")) == 1, timeout=30)
    iid = in_service(asg, "t")[0]["InstanceId"]
    assert asg.describe_traffic_sources(AutoScalingGroupName="t")["TrafficSources"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.attach_load_balancer_target_groups(AutoScalingGroupName="t", TargetGroupARNs=[tg["TargetGroupArn"] + "x"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    asg.attach_traffic_sources(AutoScalingGroupName="t", TrafficSources=[{"Identifier": tg["TargetGroupArn"], "Type": "elbv2"}])
    sources = asg.describe_traffic_sources(AutoScalingGroupName="t")["TrafficSources"]
    assert [(s["Identifier"], s["Type"], s["State"]) for s in sources] == [(tg["TargetGroupArn"], "elbv2", "InService")]
    assert [g["LoadBalancerTargetGroupARN"] for g in asg.describe_load_balancer_target_groups(AutoScalingGroupName="t")["LoadBalancerTargetGroups"]] == [tg["TargetGroupArn"]]
    assert wait_for(lambda: healthy(elb, tg) == [iid], timeout=30)
    assert "busy" not in requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10).text
    asg.detach_traffic_sources(AutoScalingGroupName="t", TrafficSources=[{"Identifier": tg["TargetGroupArn"], "Type": "elbv2"}])
    assert asg.describe_traffic_sources(AutoScalingGroupName="t")["TrafficSources"] == []
    states = [t["TargetHealth"]["State"] for t in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]]
    assert states in ([], ["draining"])


def test_warm_pool_instances_enter_service_first(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    subnets = plain_template(ec2, zones=1)
    asg.create_auto_scaling_group(AutoScalingGroupName="w", MinSize=1, MaxSize=3, DesiredCapacity=1, LaunchTemplate={"LaunchTemplateName": "plain"},
                                  VPCZoneIdentifier=subnets[0]["SubnetId"])
    asg.put_warm_pool(AutoScalingGroupName="w", PoolState="Running", MinSize=1)

    def pool():
        return asg.describe_warm_pool(AutoScalingGroupName="w")
    # Prepared capacity: MaxSize 3 less desired 1 = 2 warm instances, running beside the group.
    assert wait_for(lambda: sorted(i["LifecycleState"] for i in pool()["Instances"]) == ["Warmed:Running", "Warmed:Running"], timeout=30)
    assert pool()["WarmPoolConfiguration"]["PoolState"] == "Running"
    assert wait_for(lambda: len(in_service(asg, "w")) == 1, timeout=30)
    warm_ids = {i["InstanceId"] for i in pool()["Instances"]}
    asg.set_desired_capacity(AutoScalingGroupName="w", DesiredCapacity=2)
    # The new capacity comes from the pool, not from a cold launch; the pool refills to 3 - 2 = 1.
    assert wait_for(lambda: len(in_service(asg, "w")) == 2, timeout=30)
    joined = {i["InstanceId"] for i in in_service(asg, "w")}
    assert len(joined & warm_ids) == 1
    assert wait_for(lambda: len(pool()["Instances"]) == 1 and pool()["Instances"][0]["LifecycleState"].startswith("Warmed:"), timeout=30)
    activities = [a["Description"] for a in asg.describe_scaling_activities(AutoScalingGroupName="w")["Activities"]]
    assert any(d.startswith("Launching a new EC2 instance from warm pool") for d in activities)
    # A stopped pool keeps its instances stopped.
    asg.put_warm_pool(AutoScalingGroupName="w", PoolState="Stopped", MinSize=2)
    assert wait_for(lambda: any(i["LifecycleState"] == "Warmed:Stopped" for i in pool()["Instances"]), timeout=30)
    asg.delete_warm_pool(AutoScalingGroupName="w")
    assert pool()["Instances"] == [] and "WarmPoolConfiguration" not in pool()


def test_group_metrics_collection_publishes_to_cloudwatch(start_kumo):
    import datetime
    kumo = start_kumo("--time-scale", "0.02")
    ec2, asg, cw = kumo.client("ec2"), kumo.client("autoscaling"), kumo.client("cloudwatch")
    subnets = plain_template(ec2, zones=1)
    asg.create_auto_scaling_group(AutoScalingGroupName="m", MinSize=0, MaxSize=3, DesiredCapacity=2, LaunchTemplate={"LaunchTemplateName": "plain"},
                                  VPCZoneIdentifier=subnets[0]["SubnetId"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.enable_metrics_collection(AutoScalingGroupName="m", Granularity="5Minute")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    asg.enable_metrics_collection(AutoScalingGroupName="m", Granularity="1Minute", Metrics=["GroupDesiredCapacity", "GroupInServiceInstances"])
    enabled = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["m"])["AutoScalingGroups"][0]["EnabledMetrics"]
    assert sorted(m["Metric"] for m in enabled) == ["GroupDesiredCapacity", "GroupInServiceInstances"] and enabled[0]["Granularity"] == "1Minute"
    assert wait_for(lambda: len(in_service(asg, "m")) == 2, timeout=30)
    dims = [{"Name": "AutoScalingGroupName", "Value": "m"}]

    def in_service_metric():
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        pts = cw.get_metric_statistics(Namespace="AWS/AutoScaling", MetricName="GroupInServiceInstances", Dimensions=dims,
                                       StartTime=end - datetime.timedelta(minutes=10), EndTime=end, Period=60, Statistics=["Maximum"])["Datapoints"]
        return max((p["Maximum"] for p in pts), default=None) == 2.0
    assert wait_for(in_service_metric, timeout=30)
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/AutoScaling")["Metrics"]}
    assert names == {"GroupDesiredCapacity", "GroupInServiceInstances"}
    asg.disable_metrics_collection(AutoScalingGroupName="m")
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["m"])["AutoScalingGroups"][0]["EnabledMetrics"] == []


def test_request_count_per_target_scales_the_group_out(start_kumo):
    # A minute of AWS time is 1.2 s; the target is 5 requests per target per minute, and a client loop sends far more.
    kumo = start_kumo("--time-scale", "0.02")
    ec2, elb, asg, subnets, lt, lb, tg = app(kumo)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="rps", MinSize=1, MaxSize=3, DesiredCapacity=1, VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
        LaunchTemplate={"LaunchTemplateName": "app"}, TargetGroupARNs=[tg["TargetGroupArn"]])
    label = lb["LoadBalancerArn"].split(":loadbalancer/")[1] + "/" + tg["TargetGroupArn"].split(":")[-1]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        asg.put_scaling_policy(AutoScalingGroupName="rps", PolicyName="bad", PolicyType="TargetTrackingScaling",
                               TargetTrackingConfiguration={"TargetValue": 5.0, "PredefinedMetricSpecification": {
                                   "PredefinedMetricType": "ALBRequestCountPerTarget"}})
    assert e.value.response["Error"]["Code"] == "ValidationError"
    policy = asg.put_scaling_policy(AutoScalingGroupName="rps", PolicyName="per-target", PolicyType="TargetTrackingScaling",
                                    TargetTrackingConfiguration={"TargetValue": 5.0, "PredefinedMetricSpecification": {
                                        "PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}})
    cw = kumo.client("cloudwatch")
    high = [a["AlarmName"] for a in policy["Alarms"] if "AlarmHigh" in a["AlarmName"]][0]
    alarm = cw.describe_alarms(AlarmNames=[high])["MetricAlarms"][0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum")
    assert alarm["Dimensions"] == [{"Name": "TargetGroup", "Value": tg["TargetGroupArn"].split(":")[-1]}]
    assert wait_for(lambda: len(healthy(elb, tg)) == 1, timeout=30)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(in_service(asg, "rps")) < 3:
        for _ in range(20):
            requests.get(kumo.url + "/", headers={"Host": lb["DNSName"]}, timeout=10)
    assert len(in_service(asg, "rps")) == 3
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName="rps")["Activities"]]
    assert any("AlarmHigh" in c and "triggered policy per-target" in c for c in causes)


def test_broken_instances_back_off_instead_of_a_crash_loop(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
    ec2.create_launch_template(LaunchTemplateName="broken", LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "UserData": base64.b64encode(b"#!/bin/sh\necho starting\nexit 1\n").decode()})
    asg.create_auto_scaling_group(AutoScalingGroupName="b", MinSize=1, MaxSize=1, HealthCheckGracePeriod=0,
                                  LaunchTemplate={"LaunchTemplateName": "broken"}, VPCZoneIdentifier=subnets[0]["SubnetId"])

    def activities():
        return asg.describe_scaling_activities(AutoScalingGroupName="b")["Activities"]
    # Each instance exits at once and is replaced, but the pauses between launches grow (10, 20, 40... AWS seconds).
    time.sleep(8)
    launches = [a for a in activities() if a["Description"].startswith("Launching a new EC2 instance")]
    failures = [a for a in activities() if "its processes have exited" in a["Cause"]]
    assert 2 <= len(launches) <= 6 and failures, [a["Description"] for a in activities()]

    # A launch template that is gone: launches fail, recorded as failed activities, with the same backoff.
    asg.create_auto_scaling_group(AutoScalingGroupName="gone", MinSize=1, MaxSize=1, LaunchTemplate={"LaunchTemplateName": "broken"},
                                  VPCZoneIdentifier=subnets[0]["SubnetId"])
    asg.delete_auto_scaling_group(AutoScalingGroupName="b", ForceDelete=True)
    ec2.delete_launch_template(LaunchTemplateName="broken")
    time.sleep(6)
    failed = [a for a in asg.describe_scaling_activities(AutoScalingGroupName="gone")["Activities"] if a["StatusCode"] == "Failed"]
    assert 1 <= len(failed) <= 5 and "launch template" in failed[0]["StatusMessage"], failed
    assert kumo.client("sts").get_caller_identity()["Account"]


def test_termination_policies_pick_old_templates_and_old_instances(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    ec2, asg = kumo.client("ec2"), kumo.client("autoscaling")
    subnets = plain_template(ec2, zones=1)
    ec2.create_launch_template_version(LaunchTemplateName="plain", SourceVersion="1", LaunchTemplateData={"InstanceType": "t3.micro"})

    def serving():
        return {i["InstanceId"]: i for i in in_service(asg, "t")}
    asg.create_auto_scaling_group(AutoScalingGroupName="t", MinSize=0, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=subnets[0]["SubnetId"],
                                  LaunchTemplate={"LaunchTemplateName": "plain", "Version": "1"}, TerminationPolicies=["OldestLaunchTemplate"])
    assert wait_for(lambda: len(serving()) == 2)
    v1 = set(serving())
    # Version 2 for new instances; scaling in then takes the version-1 instances first.
    asg.update_auto_scaling_group(AutoScalingGroupName="t", LaunchTemplate={"LaunchTemplateName": "plain", "Version": "2"}, DesiredCapacity=4)
    assert wait_for(lambda: len(serving()) == 4)
    v2 = set(serving()) - v1
    assert {i["LaunchTemplate"]["Version"] for i in serving().values() if i["InstanceId"] in v2} == {"2"}
    asg.set_desired_capacity(AutoScalingGroupName="t", DesiredCapacity=2)
    assert wait_for(lambda: set(serving()) == v2, timeout=30)

    # OldestInstance: of the instances left, the first launched goes first.
    asg.update_auto_scaling_group(AutoScalingGroupName="t", TerminationPolicies=["OldestInstance"], DesiredCapacity=3)
    assert wait_for(lambda: len(serving()) == 3)
    newest = (set(serving()) - v2).pop()
    asg.set_desired_capacity(AutoScalingGroupName="t", DesiredCapacity=1)
    assert wait_for(lambda: set(serving()) == {newest}, timeout=30)
