"""EC2 networking and key pairs with boto3, the aws CLI and ssh-keygen: VPCs, subnets, internet and
NAT gateways, route tables, Elastic IPs, key pairs in the metadata service, tags and instance
attributes, with AWS's errors."""
import json
import subprocess

import botocore.exceptions
import pytest

from conftest import aws_cli, wait_for
from test_ec2 import states


def code(e):
    return e.value.response["Error"]["Code"]


def test_default_vpc_has_its_gateway_and_main_route_table(kumo):
    ec2 = kumo.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
    assert len(igw) == 1 and igw[0]["Attachments"] == [{"VpcId": vpc, "State": "available"}]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    routes = {r["DestinationCidrBlock"]: r["GatewayId"] for r in main[0]["Routes"]}
    assert routes == {"172.31.0.0/16": "local", "0.0.0.0/0": igw[0]["InternetGatewayId"]}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.delete_vpc(VpcId=vpc)
    assert code(e) == "DependencyViolation"


def test_a_custom_vpc_from_scratch_and_back(kumo):
    ec2 = kumo.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "app"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc["CidrBlock"] == "10.0.0.0/16" and not vpc["IsDefault"] and {"Key": "Name", "Value": "app"} in vpc["Tags"]
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["app"]}])["Vpcs"][0]["VpcId"] == vpc_id
    for bad in ["10.0.0.0/8", "10.0.0.1/16", "nonsense"]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.create_vpc(CidrBlock=bad)
        assert code(e) == "InvalidVpc.Range"
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is False
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"] is True
    # A new VPC comes with its main route table and default security group.
    assert len(ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]) == 1
    assert ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"][0]["GroupName"] == "default"

    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    assert public["AvailabilityZone"] == "us-east-1b" and public["AvailableIpAddressCount"] == 251 and not public["DefaultForAz"]
    private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.2.0/24")["Subnet"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.128/25")
    assert code(e) == "InvalidSubnet.Conflict"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="192.168.0.0/24")
    assert code(e) == "InvalidSubnet.Range"
    ec2.modify_subnet_attribute(SubnetId=public["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.0.1.0/24", "10.0.2.0/24"]
    assert next(s for s in subnets if s["SubnetId"] == public["SubnetId"])["MapPublicIpOnLaunch"] is True

    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    assert code(e) == "Resource.AlreadyAssociated"
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    assert ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)["Return"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert code(e) == "RouteAlreadyExists"
    association = ec2.associate_route_table(RouteTableId=table, SubnetId=public["SubnetId"])["AssociationId"]
    found = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [public["SubnetId"]]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [table]

    eip = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=public["SubnetId"], AllocationId=eip["AllocationId"])["NatGateway"]
    assert nat["State"] == "available" and nat["NatGatewayAddresses"][0]["PublicIp"] == eip["PublicIp"]
    private_table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
    private_association = ec2.associate_route_table(RouteTableId=private_table, SubnetId=private["SubnetId"])["AssociationId"]
    assert ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]["AssociationId"].startswith("eipassoc-")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert code(e) == "InvalidIPAddress.InUse"

    # Everything in the way of deleting the VPC, then taken down in order.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.delete_vpc(VpcId=vpc_id)
    assert code(e) == "DependencyViolation"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.delete_internet_gateway(InternetGatewayId=igw)
    assert code(e) == "DependencyViolation"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.delete_subnet(SubnetId=public["SubnetId"])  # the NAT gateway is in it
    assert code(e) == "DependencyViolation"
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]["State"] == "deleted"
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.disassociate_route_table(AssociationId=association)
    ec2.disassociate_route_table(AssociationId=private_association)
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route_table(RouteTableId=table)
    ec2.delete_route_table(RouteTableId=private_table)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_subnet(SubnetId=public["SubnetId"])
    ec2.delete_subnet(SubnetId=private["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_vpcs(VpcIds=[vpc_id])
    assert code(e) == "InvalidVpcID.NotFound"

    # The aws CLI, as a Terraform-minded user drives it.
    out = json.loads(aws_cli(kumo, "ec2", "create-vpc", "--cidr-block", "10.20.0.0/16").stdout)
    sub = json.loads(aws_cli(kumo, "ec2", "create-subnet", "--vpc-id", out["Vpc"]["VpcId"], "--cidr-block", "10.20.0.0/20").stdout)
    assert sub["Subnet"]["CidrBlock"] == "10.20.0.0/20"


def test_key_pairs_made_imported_and_served_to_instances(kumo, tmp_path):
    ec2 = kumo.client("ec2")
    made = ec2.create_key_pair(KeyName="deploy", KeyType="ed25519")
    assert made["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----") and made["KeyPairId"].startswith("key-")
    private = tmp_path / "deploy"
    private.write_text(made["KeyMaterial"] + "\n")
    private.chmod(0o600)
    # ssh-keygen reads the private key Kumo made and derives the public key Kumo keeps.
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True).stdout.split()
    listed = ec2.describe_key_pairs(KeyNames=["deploy"], IncludePublicKey=True)["KeyPairs"][0]
    assert listed["PublicKey"].split()[:2] == derived[:2] and listed["KeyType"] == "ed25519"
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(private)], capture_output=True, text=True, check=True).stdout.split()[1]
    assert listed["KeyFingerprint"].rstrip("=") == fingerprint.removeprefix("SHA256:")

    rsa = ec2.create_key_pair(KeyName="legacy")
    assert rsa["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----") and len(rsa["KeyFingerprint"].split(":")) == 20
    subprocess.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-f", str(tmp_path / "mine")], check=True)
    mine = (tmp_path / "mine.pub").read_bytes()
    imported = ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=mine)
    assert imported["KeyName"] == "mine" and imported["KeyFingerprint"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=mine)
    assert code(e) == "InvalidKeyPair.Duplicate"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.import_key_pair(KeyName="broken", PublicKeyMaterial=b"ssh-rsa not-base64")
    assert code(e) == "InvalidKey.Format"
    assert sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]) == ["deploy", "legacy", "mine"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_key_pairs(KeyNames=["nope"])
    assert code(e) == "InvalidKeyPair.NotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, KeyName="nope")
    assert code(e) == "InvalidKeyPair.NotFound"

    # An instance launched with a key finds its public half in the metadata service.
    script = """#!/bin/sh
echo "key=$(curl -s "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/meta-data/public-keys/0/openssh-key")"
echo "list=$(curl -s "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/meta-data/public-keys/")"
echo done
"""
    inst = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, KeyName="mine", UserData=script)["Instances"][0]
    assert inst["KeyName"] == "mine"

    def console():
        out = ec2.get_console_output(InstanceId=inst["InstanceId"]).get("Output", "")
        return out if "done" in out else None
    out = wait_for(console)
    assert "key=" + " ".join(mine.decode().split()[:2]) in out and "list=0=mine" in out
    ec2.delete_key_pair(KeyName="mine")
    ec2.delete_key_pair(KeyName="mine")  # deleting twice is fine, as on AWS
    assert "mine" not in [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
    out = json.loads(aws_cli(kumo, "ec2", "describe-key-pairs", "--key-names", "deploy").stdout)
    assert out["KeyPairs"][0]["KeyPairId"] == made["KeyPairId"]


def test_tags_and_instance_attributes(kumo):
    ec2 = kumo.client("ec2")
    inst = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "web"}]}])["Instances"][0]
    iid = inst["InstanceId"]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "team", "Value": "net"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]
    assert sorted((t["ResourceType"], t["Value"]) for t in tags) == [("instance", "web"), ("vpc", "net")]
    only = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert only == [{"ResourceId": iid, "ResourceType": "instance", "Key": "team", "Value": "web"}]

    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"] is True
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.terminate_instances(InstanceIds=[iid])
    assert code(e) == "OperationNotPermitted"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.large"})
    assert code(e) == "IncorrectInstanceState"
    ec2.stop_instances(InstanceIds=[iid])
    assert wait_for(lambda: states(ec2, [iid]) == ["stopped"])
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="instanceType", Value="t3.large")
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"]["Value"] == "t3.large"
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])
    assert wait_for(lambda: states(ec2, [iid]) == ["terminated"])


def test_registered_images_run_their_command(kumo, tmp_path):
    ec2 = kumo.client("ec2")
    (tmp_path / "app.sh").write_text("echo \"image ran in $(pwd)\"\nexec sleep 30\n")
    image = ec2.register_image(Name="my-app v1", Description="my app", TagSpecifications=[{"ResourceType": "image", "Tags": [
        {"Key": "kumo:command", "Value": "sh ./app.sh"}, {"Key": "kumo:directory", "Value": str(tmp_path)}]}])["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.register_image(Name="my-app v1")
    assert code(e) == "InvalidAMIName.Duplicate"
    mine = ec2.describe_images(Owners=["self"])["Images"]
    assert [i["ImageId"] for i in mine] == [image] and mine[0]["Name"] == "my-app v1" and mine[0]["State"] == "available"
    builtin = ec2.describe_images(ImageIds=["ami-kumo-linux"])["Images"][0]
    assert builtin["ImageOwnerAlias"] == "amazon"
    assert [i["ImageId"] for i in ec2.describe_images(Filters=[{"Name": "name", "Values": ["my-app*"]}])["Images"]] == [image]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_images(ImageIds=["ami-0000000000000dead"])
    assert code(e) == "InvalidAMIID.NotFound"

    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData="#!/bin/sh\necho user data ran\n")["Instances"][0]

    def console():
        out = ec2.get_console_output(InstanceId=inst["InstanceId"]).get("Output", "")
        return out if "image ran" in out and "user data ran" in out else None
    out = wait_for(console)
    assert out and "image ran in %s" % tmp_path in out
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    ec2.deregister_image(ImageId=image)
    assert ec2.describe_images(Owners=["self"])["Images"] == []


def test_instance_profile_credentials_from_the_metadata_service(kumo):
    ec2 = kumo.client("ec2")
    # The instance's own boto3 finds no keys in its environment and asks the metadata service.
    script = """#!/bin/sh
python3 -c "import boto3; print('arn=' + boto3.client('sts').get_caller_identity()['Arn'])"
echo "role=$(curl -s "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/meta-data/iam/security-credentials/")"
echo done
"""
    inst = ec2.run_instances(ImageId="ami-kumo-linux", MinCount=1, MaxCount=1, UserData=script,
                             IamInstanceProfile={"Name": "web-role"})["Instances"][0]
    assert inst["IamInstanceProfile"]["Arn"] == "arn:aws:iam::000000000000:instance-profile/web-role"

    def console():
        out = ec2.get_console_output(InstanceId=inst["InstanceId"]).get("Output", "")
        return out if "done" in out else None
    out = wait_for(console, timeout=30)
    assert "arn=arn:aws:sts::000000000000:assumed-role/web-role/%s" % inst["InstanceId"] in out, out
    assert "role=web-role" in out
