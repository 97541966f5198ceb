#!/usr/bin/env bash
# The client-rendered path of the classic AWS architecture, with the aws CLI alone:
# S3 bucket (private) -> CloudFront distribution (origin access control, SPA error pages)
# -> Route 53 alias www.<domain>; then curl shows the cache at work.
#
# Start Kumo first (swift run kumo up), then: examples/static-site/run.sh
# Settings: KUMO_URL (default http://localhost:4566), DNS_PORT (default 10053), DOMAIN (default example.test).
set -euo pipefail
cd "$(dirname "$0")"
URL=${KUMO_URL:-http://localhost:4566}
PORT=${URL##*:}
DNS_PORT=${DNS_PORT:-10053}
DOMAIN=${DOMAIN:-example.test}
BUCKET=site-$RANDOM
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test} AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "$URL" --output text "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. A private bucket with the site in it"
aws s3 mb "s3://$BUCKET" > /dev/null
aws s3 sync site "s3://$BUCKET" > /dev/null
aws s3 ls "s3://$BUCKET" --recursive

say "2. An origin access control, so only CloudFront may read the bucket"
OAC=$(aws cloudfront create-origin-access-control --origin-access-control-config \
  "Name=$BUCKET,SigningProtocol=sigv4,SigningBehavior=always,OriginAccessControlOriginType=s3" \
  --query OriginAccessControl.Id)
echo "origin access control $OAC"

say "3. The distribution: index.html at /, and 403/404 answered with index.html (the SPA setup)"
cat > /tmp/kumo-dist-$BUCKET.json <<JSON
{
  "CallerReference": "$BUCKET", "Comment": "static site", "Enabled": true, "DefaultRootObject": "index.html",
  "Aliases": {"Quantity": 1, "Items": ["www.$DOMAIN"]},
  "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": "$BUCKET.s3.us-east-1.amazonaws.com",
    "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": "$OAC"}]},
  "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all",
    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
  "CustomErrorResponses": {"Quantity": 2, "Items": [
    {"ErrorCode": 403, "ResponsePagePath": "/index.html", "ResponseCode": "200", "ErrorCachingMinTTL": 10},
    {"ErrorCode": 404, "ResponsePagePath": "/index.html", "ResponseCode": "200", "ErrorCachingMinTTL": 10}]}
}
JSON
read -r DIST_ID DIST_DOMAIN DIST_ARN < <(aws cloudfront create-distribution --distribution-config "file:///tmp/kumo-dist-$BUCKET.json" \
  --query '[Distribution.Id, Distribution.DomainName, Distribution.ARN]')
rm -f "/tmp/kumo-dist-$BUCKET.json"
echo "distribution $DIST_ID at http://$DIST_DOMAIN:$PORT/"

say "4. The bucket policy lets this distribution (and nothing else) read"
aws s3api put-bucket-policy --bucket "$BUCKET" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",
  \"Principal\":{\"Service\":\"cloudfront.amazonaws.com\"},\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::$BUCKET/*\",
  \"Condition\":{\"StringEquals\":{\"AWS:SourceArn\":\"$DIST_ARN\"}}}]}"
echo "straight to S3:   $(curl -s -o /dev/null -w '%{http_code}' "$URL/$BUCKET/index.html")  (denied)"
echo "through CloudFront: $(curl -s -o /dev/null -w '%{http_code}' -H "Host: $DIST_DOMAIN" "$URL/")"

say "5. Route 53: a zone for $DOMAIN with www as an alias to the distribution"
ZONE=$(aws route53 create-hosted-zone --name "$DOMAIN" --caller-reference "$BUCKET" --query HostedZone.Id)
aws route53 change-resource-record-sets --hosted-zone-id "$ZONE" --change-batch "{\"Changes\":[{\"Action\":\"UPSERT\",
  \"ResourceRecordSet\":{\"Name\":\"www.$DOMAIN\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":\"Z2FDTNDATAQYW2\",
  \"DNSName\":\"$DIST_DOMAIN\",\"EvaluateTargetHealth\":false}}}]}" > /dev/null
if command -v dig > /dev/null; then
  ADDRESS=$(dig +short -p "$DNS_PORT" @127.0.0.1 "www.$DOMAIN" A | head -1)
  echo "dig www.$DOMAIN -> $ADDRESS"
else
  ADDRESS=127.0.0.1
  echo "(dig not installed: assuming 127.0.0.1)"
fi
SITE="http://www.$DOMAIN:$PORT"
get() { curl -s -D - -o /tmp/kumo-body-$BUCKET --resolve "www.$DOMAIN:$PORT:$ADDRESS" "$SITE$1" | tr -d '\r' | grep -i "^x-cache\|^age"; }

say "6. First request: a miss (fetched from S3), then a hit (served by the edge)"
get /assets/app.js
get /assets/app.js
say "A deep link the SPA handles: CloudFront answers with index.html"
get /orders/42
echo "status: $(curl -s -o /dev/null -w '%{http_code}' --resolve "www.$DOMAIN:$PORT:$ADDRESS" "$SITE/orders/42")"

say "7. Overwrite the file in S3: CloudFront still serves the copy it has"
echo 'document.getElementById("app").textContent = "version 2";' > /tmp/kumo-app-$BUCKET.js
aws s3 cp "/tmp/kumo-app-$BUCKET.js" "s3://$BUCKET/assets/app.js" > /dev/null
get /assets/app.js
echo "body starts: $(head -c 60 /tmp/kumo-body-$BUCKET)"

say "8. Invalidate, and the new file is served"
aws cloudfront create-invalidation --distribution-id "$DIST_ID" --paths "/*" --query 'Invalidation.[Id,Status]'
get /assets/app.js
echo "body starts: $(head -c 60 /tmp/kumo-body-$BUCKET)"
rm -f "/tmp/kumo-app-$BUCKET.js" "/tmp/kumo-body-$BUCKET"
say "Done. Open http://$DIST_DOMAIN:$PORT/ in a browser (*.localhost names resolve to 127.0.0.1)."
