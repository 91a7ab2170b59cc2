"""Python S3-trigger handler of the versioning end-to-end tests.

For every S3 record it receives it writes one marker object to the bucket
named by $OUT_BUCKET: key "<eventName>/<versionId>/<decoded object key>"
(versionId "-" when the record has none), body the record as JSON, so that
a put and a delete of one key leave two markers.
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
        obj = record["s3"]["object"]
        key = urllib.parse.unquote_plus(obj["key"])
        marker = "/".join([record["eventName"], obj.get("versionId", "-"), key])
        _s3.put_object(Bucket=out, Key=marker, Body=json.dumps(record).encode(),
                       ContentType="application/json")
        wrote.append(marker)
    return {"wrote": wrote}
