"""Python S3-trigger handler of the events end-to-end tests.

For every S3 record it receives it writes one marker object to the bucket
named by $OUT_BUCKET: key "python/<decoded object key>", body the record as
JSON. boto3 takes the endpoint and credentials Sluice hands the function.
"""

import json
import os
import urllib.parse

import boto3

_s3 = boto3.client("s3")


def handler(event, context):
    out = os.environ["OUT_BUCKET"]
    wrote = []
    for record in event.get("Records", []):
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        marker = "python/" + key
        _s3.put_object(Bucket=out, Key=marker, Body=json.dumps(record).encode(),
                       ContentType="application/json")
        wrote.append(marker)
    return {"wrote": wrote}
