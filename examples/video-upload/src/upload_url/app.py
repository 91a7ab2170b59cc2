"""POST /uploads: hands out a presigned PUT URL for one video.

The client sends {"name": "holiday.mp4"} and gets back a URL it can PUT the
file to directly, so large videos go straight to storage and never through
this function (HTTP APIs stop at 10 MB and 30 s).

boto3 finds the endpoint (AWS_ENDPOINT_URL), the region and the function
role's credentials in the environment, as it does on AWS: no keys here.
"""

import base64
import json
import os
import re

import boto3
from botocore.config import Config

VIDEOS_BUCKET = os.environ["VIDEOS_BUCKET"]
THUMBNAILS_BUCKET = os.environ["THUMBNAILS_BUCKET"]
EXPIRES_IN = int(os.environ.get("URL_EXPIRES_IN", "900"))
CONTENT_TYPE = "video/mp4"

# Path-style URLs (http://host:port/bucket/key) work against any endpoint,
# including 127.0.0.1, where virtual-hosted names would not resolve.
s3 = boto3.client(
    "s3",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.mp4$")


def response(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", "replace")
    try:
        request = json.loads(raw or "{}")
    except json.JSONDecodeError as err:
        return response(400, {"message": "body is not JSON: %s" % err})
    name = request.get("name") if isinstance(request, dict) else None
    if not isinstance(name, str) or not NAME.match(name):
        return response(400, {
            "message": 'name must be a file name ending in .mp4 (letters, digits, ".", "_", "-"), '
                       'e.g. {"name": "holiday.mp4"}',
        })

    key = "videos/" + name
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": VIDEOS_BUCKET, "Key": key, "ContentType": CONTENT_TYPE},
        ExpiresIn=EXPIRES_IN,
        HttpMethod="PUT",
    )
    print("presigned upload", json.dumps({"bucket": VIDEOS_BUCKET, "key": key, "expiresIn": EXPIRES_IN}))
    return response(201, {
        "bucket": VIDEOS_BUCKET,
        "key": key,
        "uploadUrl": url,
        "method": "PUT",
        # Content-Type is part of the signature: the PUT must send it.
        "headers": {"Content-Type": CONTENT_TYPE},
        "expiresIn": EXPIRES_IN,
        "thumbnail": {"bucket": THUMBNAILS_BUCKET, "key": name[: -len(".mp4")] + ".jpg"},
    })
