#!/usr/bin/env python3
"""Refresh Kumo's bundled AWS service models from an installed botocore.

Kumo's protocol layer is driven by botocore's service-2.json files (Apache-2.0
data). This script copies the ones Kumo serves, drops the documentation text
(which is most of their size), and writes an index that the edge reads at
start-up to resolve requests to services without loading every model.

Usage: python3 Scripts/refresh-models.py   (needs `pip install botocore`)
"""
import gzip
import json
import os
import shutil
import sys

import botocore

SERVICES = [
    "sts", "s3", "sqs", "route53", "cloudfront", "ec2", "elbv2", "autoscaling",
    "cloudwatch", "logs", "acm", "iam", "kms", "sns", "rds", "elasticache",
    "cloudformation", "cognito-idp", "lambda",
]
DROP = {"documentation", "documentationUrl", "deprecatedMessage", "examples"}
# Root element names (and namespace) of S3's XML outputs. AWS's Smithy model has them
# as @xmlName on the output structures; botocore's clients ignore the root element, so
# its JSON drops them. Kumo writes what S3 writes.
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_ROOTS = {
    "s3": {
        "ListBucketsOutput": "ListAllMyBucketsResult",
        "ListObjectsOutput": "ListBucketResult",
        "ListObjectsV2Output": "ListBucketResult",
        "ListObjectVersionsOutput": "ListVersionsResult",
        "CreateMultipartUploadOutput": "InitiateMultipartUploadResult",
        "CompleteMultipartUploadOutput": "CompleteMultipartUploadResult",
        "ListPartsOutput": "ListPartsResult",
        "ListMultipartUploadsOutput": "ListMultipartUploadsResult",
        "DeleteObjectsOutput": "DeleteResult",
        "GetBucketVersioningOutput": "VersioningConfiguration",
        "GetBucketTaggingOutput": "Tagging",
        "GetObjectTaggingOutput": "Tagging",
        "GetBucketWebsiteOutput": "WebsiteConfiguration",
        "GetBucketCorsOutput": "CORSConfiguration",
        "GetBucketLifecycleConfigurationOutput": "LifecycleConfiguration",
        "GetBucketAclOutput": "AccessControlPolicy",
        "GetObjectAclOutput": "AccessControlPolicy",
        "GetObjectAttributesOutput": "GetObjectAttributesResponse",
        "GetBucketLocationOutput": "LocationConstraint",
        "NotificationConfiguration": "NotificationConfiguration",
        "GetBucketRequestPaymentOutput": "RequestPaymentConfiguration",
        "GetBucketAccelerateConfigurationOutput": "AccelerateConfiguration",
        "GetBucketLoggingOutput": "BucketLoggingStatus",
    },
}
# Members that are the text of their element (Smithy @xmlText).
XML_TEXT = {"s3": [("GetBucketLocationOutput", "LocationConstraint")]}
OUT = os.path.join(os.path.dirname(__file__), "..", "Sources", "KumoModels", "Models")


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROP}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def load(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    with gzip.open(path + ".gz") as f:
        return json.load(f)


def main():
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    os.makedirs(OUT, exist_ok=True)
    index = {}
    for name in SERVICES:
        version = sorted(os.listdir(os.path.join(data, name)))[-1]
        model = strip(load(os.path.join(data, name, version, "service-2.json")))
        for shape, root in XML_ROOTS.get(name, {}).items():
            model["shapes"][shape]["locationName"] = root
            model["shapes"][shape]["xmlNamespace"] = {"uri": S3_NAMESPACE}
        for shape, member in XML_TEXT.get(name, []):
            model["shapes"][shape]["members"][member]["xmlText"] = True
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(model, f, separators=(",", ":"), sort_keys=True)
        meta = model["metadata"]
        index[name] = {
            "apiVersion": meta.get("apiVersion"),
            "protocols": meta.get("protocols") or [meta["protocol"]],
            "signingName": meta.get("signingName") or meta.get("endpointPrefix"),
            "endpointPrefix": meta.get("endpointPrefix"),
            "targetPrefix": meta.get("targetPrefix"),
            "jsonVersion": meta.get("jsonVersion"),
            "awsQueryCompatible": "awsQueryCompatible" in meta,
            "serviceId": meta.get("serviceId"),
            "operations": sorted(model["operations"]),
        }
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump({"botocore": botocore.__version__, "services": index}, f, indent=1, sort_keys=True)
    lic = os.path.join(os.path.dirname(botocore.__file__), "..", "botocore-%s.dist-info" % botocore.__version__, "LICENSE.txt")
    if os.path.exists(lic):
        shutil.copy(lic, os.path.join(OUT, "LICENSE.txt"))
    print("wrote %d models from botocore %s" % (len(SERVICES), botocore.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
