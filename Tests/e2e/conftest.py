"""Starts real `kumo up` processes on ephemeral ports for the end-to-end tests."""
import json
import os
import signal
import subprocess
import tempfile
import time

import boto3
import botocore.config
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUMO = os.environ.get("KUMO_BIN", os.path.join(ROOT, ".build", "debug", "kumo"))


class Kumo:
    """One running kumo: its endpoint, data dir, and how to stop it."""

    def __init__(self, data_dir, *extra):
        self.data_dir = data_dir
        self.extra = list(extra)
        self.ready = os.path.join(data_dir, "ready.json")
        self.log = open(os.path.join(data_dir, "kumo.log"), "ab")
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
        self.proc = subprocess.Popen(
            [KUMO, "up", "--port", "0", "--dns-port", "0", "--listener-ports", "mapped", "--data-dir", data_dir, "--ready-file", self.ready,
             *self.extra],
            stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None:
                raise RuntimeError("kumo exited with %s; see %s/kumo.log" % (self.proc.returncode, data_dir))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("kumo did not become ready in 20 s")
            time.sleep(0.01)
        with open(self.ready) as f:
            info = json.load(f)
        self.port = info["edge"]["port"]
        self.dns_port = info["dns"]["port"]
        self.url = "http://127.0.0.1:%d" % self.port

    def client(self, service, key="test", secret="test", token=None, region="us-east-1"):
        return boto3.client(
            service, endpoint_url=self.url, region_name=region, aws_access_key_id=key,
            aws_secret_access_key=secret, aws_session_token=token,
            config=botocore.config.Config(retries={"max_attempts": 1}))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="kumo-e2e-") as d:
        yield d


@pytest.fixture
def kumo(data_dir):
    k = Kumo(data_dir)
    yield k
    code = k.stop()
    assert code == 0, "kumo did not exit cleanly on SIGTERM (exit %s)" % code


@pytest.fixture
def start_kumo():
    """Starts kumo with extra flags; every one started is stopped at the end."""
    started = []
    dirs = []

    def start(*extra, data_dir=None):
        if data_dir is None:
            d = tempfile.TemporaryDirectory(prefix="kumo-e2e-")
            dirs.append(d)
            data_dir = d.name
        k = Kumo(data_dir, *extra)
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()
    for d in dirs:
        d.cleanup()


def wait_for(predicate, timeout=15):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return None


def aws_cli(kumo, *args, key="test", secret="test", check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    r = subprocess.run(["aws", "--endpoint-url", kumo.url, "--output", "json", *args], env=env,
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("aws %s failed: %s" % (" ".join(args), r.stderr))
    return r
