"""Browser-based uploads (S3 POST Object) with boto3's generate_presigned_post.

The form is posted with requests, as a browser or a backend would post it;
the object must read back byte-identical with the Content-Type the form set,
and the policy's conditions must hold. $BUCKET names a bucket the Go test
created (it watches that bucket's events).
"""

import os
import secrets
import unittest

import requests
from botocore.config import Config

from common import ACCESS_KEY, ENDPOINT, REGION, SECRET_KEY, S3TestCase, client, xml_error

import boto3

BUCKET = os.environ["BUCKET"]


def v2_client():
    # boto3's default for presigned POSTs against a custom endpoint is a
    # Signature Version 2 form (AWSAccessKeyId, signature).
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


class PostPolicy(S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()

    def presign(self, s3, key, max_size=1024, **kw):
        return s3.generate_presigned_post(
            BUCKET,
            key,
            Fields={"Content-Type": "image/png"},
            Conditions=[
                ["content-length-range", 1, max_size],
                ["starts-with", "$key", "uploads/"],
                {"Content-Type": "image/png"},
            ],
            ExpiresIn=300,
            **kw,
        )

    def test_upload_reads_back(self):
        payload = secrets.token_bytes(700)
        post = self.presign(self.s3, "uploads/${filename}")
        self.assertIn("x-amz-signature", post["fields"])
        r = requests.post(post["url"], data=post["fields"],
                          files={"file": ("cat.png", payload, "application/octet-stream")}, timeout=30)
        self.assertEqual(r.status_code, 204, r.text)
        got = self.s3.get_object(Bucket=BUCKET, Key="uploads/cat.png")
        self.assertEqual(got["Body"].read(), payload)
        self.assertEqual(got["ContentType"], "image/png")
        self.assertEqual(r.headers["ETag"], got["ETag"])

    def test_sigv2_form_201(self):
        payload = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(100)
        post = v2_client().generate_presigned_post(
            BUCKET, "uploads/v2.png",
            Fields={"Content-Type": "image/png", "success_action_status": "201"},
            Conditions=[["content-length-range", 1, 1024], {"Content-Type": "image/png"}, {"success_action_status": "201"}],
            ExpiresIn=300)
        self.assertIn("AWSAccessKeyId", post["fields"])
        r = requests.post(post["url"], data=post["fields"], files={"file": ("v2.png", payload)}, timeout=30)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertIn("<PostResponse>", r.text)
        self.assertIn("<Key>uploads/v2.png</Key>", r.text)
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key="uploads/v2.png")["Body"].read(), payload)

    def test_too_large_is_refused(self):
        post = self.presign(self.s3, "uploads/big.png", max_size=1000)
        r = requests.post(post["url"], data=post["fields"], files={"file": ("big.png", b"x" * 5000)}, timeout=30)
        self.assertEqual(r.status_code, 400, r.text)
        code, msg = xml_error(r.content)
        self.assertEqual((code, msg), ("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"))
        self.assertIn("<MaxSizeAllowed>1000</MaxSizeAllowed>", r.text)
        self.assertIn("<ProposedSize>5000</ProposedSize>", r.text)
        self.assertClientError("404", 404, self.s3.head_object, Bucket=BUCKET, Key="uploads/big.png")

    def test_key_outside_prefix_is_refused(self):
        post = self.presign(self.s3, "uploads/ok.png")
        fields = dict(post["fields"], key="elsewhere/x.png")
        r = requests.post(post["url"], data=fields, files={"file": ("x.png", b"data")}, timeout=30)
        self.assertEqual(r.status_code, 403, r.text)
        code, msg = xml_error(r.content)
        self.assertEqual(code, "AccessDenied")
        self.assertEqual(msg, 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]')

    def test_tampered_field_is_refused(self):
        post = self.presign(self.s3, "uploads/t.png")
        fields = dict(post["fields"], **{"x-amz-meta-extra": "1"})
        r = requests.post(post["url"], data=fields, files={"file": ("t.png", b"data")}, timeout=30)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(xml_error(r.content), ("AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-extra"))

    def test_wrong_secret_is_refused(self):
        forged = client(secret_key="not-the-secret")
        post = self.presign(forged, "uploads/f.png")
        r = requests.post(post["url"], data=post["fields"], files={"file": ("f.png", b"data")}, timeout=30)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(xml_error(r.content)[0], "SignatureDoesNotMatch")


if __name__ == "__main__":
    unittest.main(verbosity=2)
