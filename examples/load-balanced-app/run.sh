#!/usr/bin/env bash
# The server-rendered path of the classic AWS architecture, with the aws CLI alone: two EC2
# instances (real processes running app.py) in two availability zones behind an application
# load balancer with an HTTP listener and an /api/* rule; then curl shows the balancing, and
# stopping one instance shows it leave the rotation.
#
# Start Kumo first (swift run kumo up), then: examples/load-balanced-app/run.sh
# Settings: KUMO_URL (default http://localhost:4566).
set -euo pipefail
cd "$(dirname "$0")"
URL=${KUMO_URL:-http://localhost:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test} AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "$URL" --output text "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
NAME=app-$RANDOM

say "1. Two instances in two availability zones, each running app.py from its user data"
USER_DATA=$(printf '#!/bin/sh\ncat > app.py <<"PY"\n%s\nPY\nexec python3 app.py\n' "$(cat app.py)")
read -r SUBNET_A SUBNET_B < <(aws ec2 describe-subnets --filters Name=default-for-az,Values=true \
  --query 'sort_by(Subnets,&AvailabilityZone)[0:2].SubnetId')
VPC=$(aws ec2 describe-vpcs --filters Name=is-default,Values=true --query 'Vpcs[0].VpcId')
I1=$(aws ec2 run-instances --image-id ami-kumo-linux --instance-type t3.micro --subnet-id "$SUBNET_A" \
  --user-data "$USER_DATA" --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$NAME}]" --query 'Instances[0].InstanceId')
I2=$(aws ec2 run-instances --image-id ami-kumo-linux --instance-type t3.micro --subnet-id "$SUBNET_B" \
  --user-data "$USER_DATA" --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$NAME}]" --query 'Instances[0].InstanceId')
aws ec2 describe-instances --instance-ids "$I1" "$I2" \
  --query 'Reservations[].Instances[].[InstanceId,Placement.AvailabilityZone,PrivateIpAddress,State.Name]'

say "2. A target group with a health check, and the instances in it"
TG=$(aws elbv2 create-target-group --name "$NAME" --protocol HTTP --port 8080 --vpc-id "$VPC" \
  --health-check-path /health --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
  --healthy-threshold-count 2 --unhealthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn')
aws elbv2 register-targets --target-group-arn "$TG" --targets "Id=$I1" "Id=$I2"

say "3. The load balancer, an HTTP listener forwarding to the group, and an /api/* rule"
read -r LB DNS < <(aws elbv2 create-load-balancer --name "$NAME" --subnets "$SUBNET_A" "$SUBNET_B" \
  --query 'LoadBalancers[0].[LoadBalancerArn,DNSName]')
LISTENER=$(aws elbv2 create-listener --load-balancer-arn "$LB" --protocol HTTP --port 80 \
  --default-actions "Type=forward,TargetGroupArn=$TG" --query 'Listeners[0].ListenerArn')
aws elbv2 create-rule --listener-arn "$LISTENER" --priority 10 --conditions Field=path-pattern,Values='/api/*' \
  --actions "Type=forward,TargetGroupArn=$TG" --query 'Rules[0].[Priority,Conditions[0].Values[0]]'
aws elbv2 create-rule --listener-arn "$LISTENER" --priority 5 --conditions Field=path-pattern,Values='/admin*' \
  --actions 'Type=fixed-response,FixedResponseConfig={StatusCode=403,ContentType=text/plain,MessageBody=no admin here}' \
  --query 'Rules[0].[Priority,Conditions[0].Values[0]]'
echo "load balancer: $DNS"
get() { curl -s -H "Host: $DNS" "$URL$1"; }

say "4. Waiting for both targets to pass their health checks"
for _ in $(seq 1 150); do
  HEALTHY=$(aws elbv2 describe-target-health --target-group-arn "$TG" --query 'length(TargetHealthDescriptions[?TargetHealth.State==`healthy`])')
  [ "$HEALTHY" = 2 ] && break
  sleep 0.2
done
aws elbv2 describe-target-health --target-group-arn "$TG" --query 'TargetHealthDescriptions[].[Target.Id,TargetHealth.State]'

say "5. Requests alternate between the instances"
for _ in 1 2 3 4; do get /; done
get /api/orders; echo
get /admin; echo

say "6. Stop one instance: it leaves the rotation, all traffic goes to the other"
aws ec2 stop-instances --instance-ids "$I1" --query 'StoppingInstances[0].CurrentState.Name'
for _ in $(seq 1 150); do
  STATE=$(aws elbv2 describe-target-health --target-group-arn "$TG" --targets "Id=$I1" --query 'TargetHealthDescriptions[0].TargetHealth.State')
  [ "$STATE" != healthy ] && break
  sleep 0.2
done
aws elbv2 describe-target-health --target-group-arn "$TG" --query 'TargetHealthDescriptions[].[Target.Id,TargetHealth.State,TargetHealth.Reason]'
for _ in 1 2 3 4; do get /; done

say "Done. The listener also has a port of its own: see curl $URL/_kumo/health"
