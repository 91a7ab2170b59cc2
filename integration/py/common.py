"""Shared helpers for the boto3 end-to-end scripts.

Every script talks to the Sluice server named by $ENDPOINT with the
credentials in $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY; the Go test
harness (integration_test.go) sets these and isolates the AWS config files.
"""

import os
import secrets
import unittest
import xml.etree.ElementTree as ET

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ENDPOINT"]
ACCESS_KEY = os.environ.get("AWS_ACCESS_KEY_ID", "test")
SECRET_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "test")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def client(region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **config):
    """A path-style S3 client with retries off, so errors are seen as sent."""
    cfg = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=120,
        **config,
    )
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=cfg,
    )


def bucket_name(prefix):
    return f"{prefix}-{secrets.token_hex(5)}"


def empty_and_delete(s3, bucket):
    """Best-effort teardown: abort uploads, delete objects, delete bucket."""
    try:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for u in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


def signed_request(method, url, body=b"", headers=None, service="s3", region=REGION,
                   access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """Sends a raw SigV4-signed request with botocore's signer."""
    creds = botocore.credentials.Credentials(access_key, secret_key)
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if service == "s3":
        botocore.auth.S3SigV4Auth(creds, service, region).add_auth(req)
    else:
        botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
    prepared = req.prepare()
    return requests.request(method, prepared.url, data=body, headers=dict(prepared.headers), timeout=60)


def xml_error(body):
    """Returns (Code, Message) from an S3 XML error body."""
    root = ET.fromstring(body)
    return root.findtext("Code"), root.findtext("Message")


class S3TestCase(unittest.TestCase):
    """Assertion helpers shared by the scripts."""

    def assertClientError(self, code, status, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response
        self.assertEqual(
            (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]),
            (code, status),
            f"error response: {err}",
        )
        return err
