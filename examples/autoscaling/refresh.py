#!/usr/bin/env python3
"""A zero-downtime deploy: an Auto Scaling group of three instances running version 1 of a small
web app behind an application load balancer takes version 2 by an instance refresh, while a
constant load runs against the load balancer. The timeline shows which version answered, how
far the refresh is, and every failed request (the goal: none).

Start Kumo with a time scale so minutes of AWS time take seconds:
    swift run kumo up --time-scale 0.05
then:  python3 examples/autoscaling/refresh.py [--instances 3] [--name NAME]
Settings: KUMO_URL (default http://localhost:4566). Needs boto3. Exits 1 if any request failed.
"""
import argparse
import base64
import collections
import os
import threading
import time
import urllib.request

import boto3

URL = os.environ.get("KUMO_URL", "http://localhost:4566")

APP = """#!/bin/sh
mkdir -p www && echo "%s from $KUMO_INSTANCE_ID" > www/index.html
cd www && exec python3 -m http.server 8080 --bind "$KUMO_BIND_ADDRESS"
"""


def clients():
    kw = dict(endpoint_url=URL, region_name="us-east-1", aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
              aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    return [boto3.client(s, **kw) for s in ("ec2", "elbv2", "autoscaling")]


def user_data(version):
    return base64.b64encode((APP % version).encode()).decode()


def setup(name, instances):
    """Launch template version 1, a load balancer and target group, and the group (serving once every target is healthy)."""
    ec2, elb, asg = clients()
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])[:2]
    lt = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "InstanceType": "t2.micro", "UserData": user_data("v1")})["LaunchTemplate"]
    lb = elb.create_load_balancer(Name=name, Subnets=[s["SubnetId"] for s in subnets])["LoadBalancers"][0]
    tg = elb.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=subnets[0]["VpcId"], HealthCheckIntervalSeconds=5,
                                 HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]
    # Draining: a leaving instance finishes the requests it has before it goes.
    elb.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"],
                                       Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=instances, MaxSize=instances * 2, DesiredCapacity=instances,
                                  VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
                                  LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "1"},
                                  TargetGroupARNs=[tg["TargetGroupArn"]])
    while len([t for t in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
               if t["TargetHealth"]["State"] == "healthy"]) < instances:
        time.sleep(0.2)
    return lt["LaunchTemplateId"], lb["DNSName"]


class Load:
    """Constant load: `workers` threads sending requests until `stop` is set, counting answers by version."""

    def __init__(self, host, workers=4):
        self.host = host
        self.answers = collections.Counter()
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(workers)]

    def run(self):
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(urllib.request.Request(URL + "/", headers={"Host": self.host}), timeout=10) as r:
                    version = r.read().decode().split()[0]
                with self.lock:
                    self.answers[version] += 1
            except Exception as e:
                with self.lock:
                    self.errors.append(str(e))
                time.sleep(0.05)

    def take(self):
        """Answers by version since the last call, and the failed requests so far."""
        with self.lock:
            answers, self.answers = self.answers, collections.Counter()
            return answers, len(self.errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--name", default="deploy-demo-%d" % (int(time.time()) % 10000))
    ap.add_argument("--timeout", type=float, default=240, help="give up after this many seconds")
    args = ap.parse_args()
    ec2, _, asg = clients()
    template, host = setup(args.name, args.instances)
    print("load balancer %s, group %s: %d instances serving v1" % (host, args.name, args.instances))
    load = Load(host)
    for t in load.threads:
        t.start()
    time.sleep(2)
    ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={"UserData": user_data("v2")})
    # Launch replacements first (MaxHealthyPercentage 150) and never drop below the full capacity (MinHealthyPercentage 100).
    refresh_id = asg.start_instance_refresh(
        AutoScalingGroupName=args.name, DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template, "Version": "2"}},
        Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150, "InstanceWarmup": 30, "SkipMatching": True})["InstanceRefreshId"]
    print("instance refresh %s started: template version 1 -> 2" % refresh_id)
    print("%6s  %-12s  %5s  %-18s  %-18s  %s" % ("t (s)", "status", "done", "instances", "answers", "failed"))
    start = time.time()
    status = "InProgress"
    while status not in ("Successful", "Failed", "Cancelled") and time.time() - start < args.timeout:
        time.sleep(1)
        r = asg.describe_instance_refreshes(AutoScalingGroupName=args.name, InstanceRefreshIds=[refresh_id])["InstanceRefreshes"][0]
        status = r["Status"]
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[args.name])["AutoScalingGroups"][0]
        by_version = collections.Counter("v" + i["LaunchTemplate"]["Version"] for i in group["Instances"] if i["LifecycleState"] == "InService")
        answers, failed = load.take()
        print("%6.0f  %-12s  %4d%%  %-18s  %-18s  %d" % (
            time.time() - start, status, r["PercentageComplete"], " ".join("%s×%d" % kv for kv in sorted(by_version.items())),
            " ".join("%s×%d" % kv for kv in sorted(answers.items())), failed))
    time.sleep(2)
    load.stop.set()
    for t in load.threads:
        t.join()
    answers, failed = load.take()
    print("refresh %s; last answers: %s; failed requests: %d" % (status, dict(answers), failed))
    for a in asg.describe_scaling_activities(AutoScalingGroupName=args.name)["Activities"][:4][::-1]:
        print(" -", a["Description"])
    asg.delete_auto_scaling_group(AutoScalingGroupName=args.name, ForceDelete=True)
    raise SystemExit(0 if status == "Successful" and failed == 0 and set(answers) == {"v2"} else 1)


if __name__ == "__main__":
    main()
