#!/usr/bin/env python3
"""The heart of the server-rendered path: an Auto Scaling group (min 1, max 4) of a CPU-heavy
web app behind an application load balancer, with target tracking at 50% CPU. A bounded load
runs against the load balancer; the timeline shows CPU rising, the group scaling out, and,
after the load stops, scaling back in.

Start Kumo with a time scale so minutes of AWS time take seconds:
    swift run kumo up --time-scale 0.02
then:  python3 examples/autoscaling/run.py [--load-seconds 40] [--after-seconds 40] [--csv timeline.csv] [--svg timeline.svg]
Settings: KUMO_URL (default http://localhost:4566). Needs boto3.

Be honest about the numbers: on a small machine every instance, the load generator and Kumo
share the same cores, so an instance's CPU is its share of one vCPU of this machine.
"""
import argparse
import base64
import csv
import datetime
import os
import threading
import time
import urllib.request

import boto3

URL = os.environ.get("KUMO_URL", "http://localhost:4566")
HERE = os.path.dirname(os.path.abspath(__file__))


def clients():
    kw = dict(endpoint_url=URL, region_name="us-east-1", aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
              aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    return [boto3.client(s, **kw) for s in ("ec2", "elbv2", "autoscaling", "cloudwatch")]


def setup(name):
    ec2, elb, asg, _ = clients()
    app = open(os.path.join(HERE, "cpu_app.py")).read()
    user_data = "#!/bin/sh\ncat > app.py <<'PY'\n%s\nPY\nexec python3 app.py\n" % app
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])[:2]
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "InstanceType": "t2.micro", "UserData": base64.b64encode(user_data.encode()).decode()})
    lb = elb.create_load_balancer(Name=name, Subnets=[s["SubnetId"] for s in subnets])["LoadBalancers"][0]
    tg = elb.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=subnets[0]["VpcId"], HealthCheckPath="/health",
                                 HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=4, DesiredCapacity=1,
                                  VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets), LaunchTemplate={"LaunchTemplateName": name},
                                  TargetGroupARNs=[tg["TargetGroupArn"]])
    asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="cpu50", PolicyType="TargetTrackingScaling",
                           TargetTrackingConfiguration={"TargetValue": 50.0, "PredefinedMetricSpecification": {
                               "PredefinedMetricType": "ASGAverageCPUUtilization"}})
    return lb["DNSName"], tg["TargetGroupArn"]


class Load:
    """A bounded load: `workers` threads sending requests until `stop` is set."""

    def __init__(self, host, workers=6):
        self.host, self.ok, self.errors = host, 0, 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(workers)]

    def run(self):
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(urllib.request.Request(URL + "/", headers={"Host": self.host}), timeout=10) as r:
                    r.read()
                with self.lock:
                    self.ok += 1
            except Exception:
                with self.lock:
                    self.errors += 1
                time.sleep(0.05)

    def counts(self):
        with self.lock:
            return self.ok, self.errors


COLUMNS = ["t_seconds", "phase", "instances", "cpu_percent", "requests_per_second", "errors"]


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)


def write_svg(path, rows, load_seconds):
    """A chart of the timeline: instances, CPU, requests/s and errors over time, each scaled to its own maximum."""
    width, height, left, top, plot_w, plot_h = 760, 360, 60, 30, 640, 250
    t_max = max([r[0] for r in rows] + [1])
    series = [("instances", 2, "#1f77b4"), ("CPU %", 3, "#d62728"), ("requests/s", 4, "#2ca02c"), ("errors", 5, "#7f7f7f")]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">Auto Scaling timeline (each line scaled to its own maximum)</text>' % left,
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, top + plot_h, left + plot_w, top + plot_h),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, top, left, top + plot_h)]
    load_x = left + plot_w * min(load_seconds, t_max) / t_max
    out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="#fff3d6"/>' % (left + 1, top, load_x - left - 1, plot_h))
    out.append('<text x="%d" y="%d" fill="#996600">load</text>' % (left + 6, top + 14))
    for i, (name, col, color) in enumerate(series):
        values = [r[col] if r[col] == r[col] else 0 for r in rows]  # NaN (no CPU data yet) as 0
        peak = max(values + [1e-9])
        points = " ".join("%.1f,%.1f" % (left + plot_w * r[0] / t_max, top + plot_h - plot_h * v / peak) for r, v in zip(rows, values))
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (color, points))
        out.append('<text x="%d" y="%d" fill="%s">%s (max %.0f)</text>' % (left + 150 * i, top + plot_h + 40, color, name, peak))
    out.append('<text x="%d" y="%d">time (s, 0–%.0f)</text>' % (left + plot_w - 90, top + plot_h + 18, t_max))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--load-seconds", type=float, default=40)
    ap.add_argument("--after-seconds", type=float, default=50)
    ap.add_argument("--name", default="cpu-demo-%d" % (int(time.time()) % 10000))
    ap.add_argument("--csv", help="also write the timeline to this CSV file")
    ap.add_argument("--svg", help="also draw the timeline as an SVG chart in this file")
    args = ap.parse_args()
    rows = []
    ec2, elb, asg, cw = clients()
    host, tg = setup(args.name)
    print("load balancer %s, group %s (min 1, max 4, target 50%% CPU)" % (host, args.name))
    while not [t for t in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"]:
        time.sleep(0.2)
    load = Load(host)
    for t in load.threads:
        t.start()
    start = time.time()
    last_ok = 0
    peak = 1
    print("%6s  %-6s  %9s  %8s  %6s  %s" % ("t (s)", "phase", "instances", "CPU avg", "req/s", "errors"))
    while time.time() - start < args.load_seconds + args.after_seconds:
        time.sleep(2)
        phase = "load" if time.time() - start < args.load_seconds else "idle"
        if phase == "idle":
            load.stop.set()
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[args.name])["AutoScalingGroups"][0]
        serving = len([i for i in group["Instances"] if i["LifecycleState"] == "InService"])
        peak = max(peak, serving)
        now = datetime.datetime.now(datetime.timezone.utc)
        points = cw.get_metric_statistics(Namespace="AWS/EC2", MetricName="CPUUtilization",
                                          Dimensions=[{"Name": "AutoScalingGroupName", "Value": args.name}],
                                          StartTime=now - datetime.timedelta(seconds=30), EndTime=now, Period=1, Statistics=["Average"])["Datapoints"]
        cpu = sorted(points, key=lambda p: p["Timestamp"])[-1]["Average"] if points else float("nan")
        ok, errors = load.counts()
        print("%6.0f  %-6s  %9d  %7.0f%%  %6.0f  %d" % (time.time() - start, phase, serving, cpu, (ok - last_ok) / 2, errors))
        rows.append([round(time.time() - start, 1), phase, serving, round(cpu, 1), (ok - last_ok) / 2, errors])
        last_ok = ok
    load.stop.set()
    if args.csv:
        write_csv(args.csv, rows)
    if args.svg:
        write_svg(args.svg, rows, args.load_seconds)
    final = len(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[args.name])["AutoScalingGroups"][0]["Instances"])
    print("peak instances: %d, instances at the end: %d, failed requests: %d" % (peak, final, load.counts()[1]))
    for a in asg.describe_scaling_activities(AutoScalingGroupName=args.name)["Activities"][:6][::-1]:
        print(" -", a["Cause"][:160])
    asg.delete_auto_scaling_group(AutoScalingGroupName=args.name, ForceDelete=True)


if __name__ == "__main__":
    main()
