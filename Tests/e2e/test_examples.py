"""The walkthroughs under examples/ run as written against a fresh Kumo."""
import os
import subprocess

from conftest import ROOT


def test_static_site_example(kumo):
    env = dict(os.environ, KUMO_URL=kumo.url, DNS_PORT=str(kumo.dns_port), AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    env.pop("AWS_PROFILE", None)
    out = subprocess.run(["bash", os.path.join(ROOT, "examples", "static-site", "run.sh")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "straight to S3:   403" in text and "through CloudFront: 200" in text
    assert "dig www.example.test -> 127.0.0.1" in text
    step6 = text.split("6. First request")[1].split("A deep link")[0]
    assert step6.index("Miss from cloudfront") < step6.index("Hit from cloudfront")
    assert "status: 200" in text
    step7 = text.split("7. Overwrite")[1].split("8. Invalidate")[0]
    assert "Hit from cloudfront" in step7 and "client-side router" in step7
    step8 = text.split("8. Invalidate")[1]
    assert "Miss from cloudfront" in step8 and "version 2" in step8


def test_load_balanced_app_example(start_kumo):
    kumo = start_kumo("--time-scale", "0.2")
    env = dict(os.environ, KUMO_URL=kumo.url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    env.pop("AWS_PROFILE", None)
    out = subprocess.run(["bash", os.path.join(ROOT, "examples", "load-balanced-app", "run.sh")], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    step5 = text.split("5. Requests alternate")[1].split("6. Stop one")[0]
    hellos = [line for line in step5.splitlines() if line.startswith("<h1>Hello from")]
    assert len(hellos) == 4 and len(set(hellos)) == 2 and hellos[0] == hellos[2] and hellos[1] == hellos[3]
    assert '"path": "/api/orders"' in step5 and "no admin here" in step5
    step6 = text.split("6. Stop one")[1]
    assert "Target.InvalidState" in step6
    after = [line for line in step6.splitlines() if line.startswith("<h1>Hello from")]
    assert len(after) == 4 and len(set(after)) == 1


def test_autoscaling_example(start_kumo):
    kumo = start_kumo("--time-scale", "0.02")
    env = dict(os.environ, KUMO_URL=kumo.url)
    chart, table = os.path.join(kumo.data_dir, "timeline.svg"), os.path.join(kumo.data_dir, "timeline.csv")
    out = subprocess.run(["python3", os.path.join(ROOT, "examples", "autoscaling", "run.py"), "--load-seconds", "20", "--after-seconds", "30",
                          "--csv", table, "--svg", chart], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    summary = [line for line in out.stdout.splitlines() if line.startswith("peak instances")][0]
    peak = int(summary.split("peak instances: ")[1].split(",")[0])
    failed = int(summary.split("failed requests: ")[1])
    assert peak >= 2, out.stdout  # CPU load on one instance scales the group out
    assert failed == 0, out.stdout
    assert "triggered policy cpu50" in out.stdout
    import csv
    import xml.etree.ElementTree as ET
    rows = list(csv.DictReader(open(table)))
    assert rows and max(int(r["instances"]) for r in rows) == peak and {r["phase"] for r in rows} == {"load", "idle"}
    svg = ET.parse(chart).getroot()
    assert svg.tag.endswith("svg") and len([e for e in svg.iter() if e.tag.endswith("polyline")]) == 4


def test_instance_refresh_example(start_kumo):
    kumo = start_kumo("--time-scale", "0.05")
    env = dict(os.environ, KUMO_URL=kumo.url)
    out = subprocess.run(["python3", os.path.join(ROOT, "examples", "autoscaling", "refresh.py")], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = [line for line in out.stdout.splitlines() if line.startswith("refresh ")][0]
    assert summary.startswith("refresh Successful") and summary.endswith("failed requests: 0"), out.stdout
