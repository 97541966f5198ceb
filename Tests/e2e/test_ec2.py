"""EC2 end to end: the default network, security groups, and instances that are real
processes (their user data runs; they serve on their own loopback address)."""
import base64
import json
import os
import re

import botocore.exceptions
import pytest
import requests

from conftest import aws_cli, wait_for

SERVER = """#!/bin/sh
echo "bind $KUMO_BIND_ADDRESS"
mkdir -p www && echo "hello from $KUMO_INSTANCE_ID" > www/index.html
cd www && exec python3 -m http.server 8080 --bind "$KUMO_BIND_ADDRESS"
"""


def bind_address(ec2, instance_id):
    def read():
        out = ec2.get_console_output(InstanceId=instance_id).get("Output", "")
        m = re.search(r"bind (127\.\d+\.\d+\.\d+)", out)
        return m.group(1) if m else None
    return wait_for(read)


def serves(address):
    try:
        return requests.get("http://%s:8080/" % address, timeout=1).text.strip()
    except requests.RequestException:
        return None


def states(ec2, ids):
    return [i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]


def test_default_network_and_security_groups(kumo):
    ec2 = kumo.client("ec2")
    vpcs = ec2.describe_vpcs()["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["IsDefault"] and vpcs[0]["CidrBlock"] == "172.31.0.0/16"
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert len(default) == 1 and default[0]["VpcId"] == vpcs[0]["VpcId"]

    gid = ec2.create_security_group(GroupName="web", Description="web servers")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert e.value.response["Error"]["Code"] == "InvalidPermission.Duplicate"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_security_group(GroupName="web", Description="again")
    assert e.value.response["Error"]["Code"] == "InvalidGroup.Duplicate"
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "Name", "Value": "web-sg"}])
    found = ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["web-*"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [gid]
    assert found[0]["IpPermissions"][0]["FromPort"] == 80
    ec2.delete_security_group(GroupId=gid)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_security_groups(GroupIds=[gid])
    assert e.value.response["Error"]["Code"] == "InvalidGroup.NotFound"


def test_instances_are_real_processes(kumo):
    ec2 = kumo.client("ec2")
    res = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=2, MaxCount=2, InstanceType="t3.micro", UserData=SERVER,
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    ids = [i["InstanceId"] for i in res["Instances"]]
    assert [i["State"]["Name"] for i in res["Instances"]] == ["pending", "pending"]
    assert all(i["PrivateIpAddress"].startswith("172.31.") for i in res["Instances"])
    assert wait_for(lambda: states(ec2, ids) == ["running", "running"])

    # Both listen on port 8080, each on its own loopback address.
    addresses = [bind_address(ec2, i) for i in ids]
    assert len(set(addresses)) == 2 and "127.0.0.1" not in addresses
    for i, address in zip(ids, addresses):
        assert wait_for(lambda: serves(address)) == "hello from " + i

    running = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web"]},
                                              {"Name": "instance-state-name", "Values": ["running"]}])
    assert sorted(i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]) == sorted(ids)
    status = ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]
    assert [s["InstanceStatus"]["Status"] for s in status] == ["ok", "ok"]
    out = aws_cli(kumo, "ec2", "describe-instances", "--filters", "Name=instance-type,Values=t3.micro", "--query",
                  "Reservations[].Instances[].InstanceId")
    assert sorted(json.loads(out.stdout)) == sorted(ids)

    stopped = ec2.stop_instances(InstanceIds=[ids[0]])["StoppingInstances"][0]
    assert stopped["PreviousState"]["Name"] == "running" and stopped["CurrentState"]["Name"] == "stopping"
    assert wait_for(lambda: states(ec2, [ids[0]]) == ["stopped"])
    assert wait_for(lambda: serves(addresses[0]) is None)
    ec2.start_instances(InstanceIds=[ids[0]])
    assert wait_for(lambda: serves(addresses[0])) == "hello from " + ids[0]

    gone = ec2.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert {g["CurrentState"]["Name"] for g in gone} == {"shutting-down"}
    assert wait_for(lambda: states(ec2, ids) == ["terminated", "terminated"])
    assert all(serves(a) is None for a in addresses)

    for bad, code in [("i-0123456789abcdef0", "InvalidInstanceID.NotFound"), ("nope", "InvalidInstanceID.Malformed")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.describe_instances(InstanceIds=[bad])
        assert e.value.response["Error"]["Code"] == code
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, SubnetId="subnet-0000000000000000")
    assert e.value.response["Error"]["Code"] == "InvalidSubnetID.NotFound"


def test_instances_run_again_after_a_restart_and_never_outlive_kumo(start_kumo, data_dir):
    kumo = start_kumo(data_dir=data_dir)
    ec2 = kumo.client("ec2")
    iid = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, UserData=SERVER)["Instances"][0]["InstanceId"]
    address = bind_address(ec2, iid)
    assert wait_for(lambda: serves(address))
    assert kumo.stop() == 0
    assert wait_for(lambda: serves(address) is None, timeout=5)

    again = start_kumo(data_dir=data_dir)
    assert wait_for(lambda: serves(address)) == "hello from " + iid
    assert states(again.client("ec2"), [iid]) == ["running"]


def test_instances_run_with_a_relative_data_dir(start_kumo, data_dir):
    # `--data-dir .kumo` (relative, as the default is) must work although instances run in their own directories.
    kumo = start_kumo(data_dir=os.path.relpath(data_dir))
    ec2 = kumo.client("ec2")
    iid = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, UserData=SERVER)["Instances"][0]["InstanceId"]
    assert wait_for(lambda: serves(bind_address(ec2, iid))) == "hello from " + iid


def test_instance_types_limit_cpu_and_memory(kumo):
    kind = json.load(open(kumo.ready))["instanceLimits"]
    assert kind in ("cgroup-v2", "cgroup-v1", "none")
    ec2 = kumo.client("ec2")
    # Two busy loops in a one-vCPU t2.micro: the CPU quota throttles them.
    burn = "#!/bin/sh\ncat /proc/self/cgroup\necho started\nfor i in 1 2; do ( while :; do :; done ) & done\nsleep 60\n"
    small = ec2.run_instances(ImageId="ami-kumo-linux", InstanceType="t2.micro", MinCount=1, MaxCount=1, UserData=burn)["Instances"][0]["InstanceId"]
    large = ec2.run_instances(ImageId="ami-kumo-linux", InstanceType="m5.large", MinCount=1, MaxCount=1,
                              UserData="#!/bin/sh\nsleep 60\n")["Instances"][0]["InstanceId"]
    output = wait_for(lambda: (lambda o: o if "started" in o else None)(ec2.get_console_output(InstanceId=small).get("Output", "")))
    if kind == "none":
        return  # limits recorded only; `kumo up` said why at start
    if kind == "cgroup-v1":
        assert "cpu:/kumo/%s\n" % small in output and "memory:/kumo/%s\n" % small in output, output
        files = {"cpu": "/sys/fs/cgroup/cpu/kumo/%s/cpu.cfs_quota_us", "memory": "/sys/fs/cgroup/memory/kumo/%s/memory.limit_in_bytes",
                 "stat": "/sys/fs/cgroup/cpu/kumo/%s/cpu.stat"}
    else:
        assert "0::/kumo/%s\n" % small in output, output
        root = "/sys/fs/cgroup/kumo" if os.path.exists("/sys/fs/cgroup/kumo/cgroup.procs") else "/sys/fs/cgroup/unified/kumo"
        files = {"cpu": root + "/%s/cpu.max", "memory": root + "/%s/memory.max", "stat": root + "/%s/cpu.stat"}

    def read(name, iid):
        return open(files[name] % iid).read().split()
    assert read("cpu", small)[0] == "100000" and read("memory", small) == [str(1 << 30)]
    assert wait_for(lambda: read("cpu", large)[0] == "200000") and read("memory", large) == [str(8 << 30)]
    assert wait_for(lambda: int(dict(zip(read("stat", small)[::2], read("stat", small)[1::2]))["nr_throttled"]) > 0, timeout=10)
    ec2.terminate_instances(InstanceIds=[small, large])
    assert wait_for(lambda: not os.path.exists(os.path.dirname(files["cpu"] % small)), timeout=15)


def test_launch_templates_and_the_metadata_service(kumo):
    ec2 = kumo.client("ec2")
    metadata_script = """#!/bin/sh
EP="$AWS_EC2_METADATA_SERVICE_ENDPOINT"
TOKEN=$(curl -s -X PUT "$EP/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
echo "id=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" "$EP/latest/meta-data/instance-id")"
echo "zone=$(curl -s "$EP/latest/meta-data/placement/availability-zone")"
echo "ip=$(curl -s "$EP/latest/meta-data/local-ipv4")"
echo "bad=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-aws-ec2-metadata-token: nope' "$EP/latest/meta-data/instance-id")"
echo done
"""
    lt = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
        "ImageId": "ami-kumo-linux", "InstanceType": "t3.small", "UserData": base64.b64encode(metadata_script.encode()).decode(),
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "from-template"}]}]})["LaunchTemplate"]
    assert lt["LaunchTemplateId"].startswith("lt-") and lt["LatestVersionNumber"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-kumo-linux"})
    assert e.value.response["Error"]["Code"] == "InvalidLaunchTemplateName.AlreadyExistsException"
    v2 = ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], SourceVersion="1",
                                            LaunchTemplateData={"InstanceType": "t3.large"})["LaunchTemplateVersion"]
    assert v2["VersionNumber"] == 2 and v2["LaunchTemplateData"]["ImageId"] == "ami-kumo-linux"
    ec2.modify_launch_template(LaunchTemplateId=lt["LaunchTemplateId"], DefaultVersion="2")
    described = ec2.describe_launch_templates(LaunchTemplateNames=["web"])["LaunchTemplates"][0]
    assert (described["DefaultVersionNumber"], described["LatestVersionNumber"]) == (2, 2)
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])["LaunchTemplateVersions"]
    assert [v["VersionNumber"] for v in versions] == [2, 1] and versions[0]["DefaultVersion"]

    inst = ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Default"})["Instances"][0]
    assert inst["InstanceType"] == "t3.large" and {"Key": "Name", "Value": "from-template"} in inst["Tags"]

    def console():
        out = ec2.get_console_output(InstanceId=inst["InstanceId"]).get("Output", "")
        return out if "done" in out else None
    out = wait_for(console)
    assert "id=" + inst["InstanceId"] in out and "zone=us-east-1a" in out and "ip=" + inst["PrivateIpAddress"] in out
    assert "bad=401" in out

    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": "missing"})
    assert e.value.response["Error"]["Code"] == "InvalidLaunchTemplateName.NotFoundException"
    ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
