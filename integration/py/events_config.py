"""boto3: S3 notification configuration round trip and validation errors.

$FUNCTION_ARN names an existing function; Sluice must check Lambda
destinations at configuration time as S3 does.
"""

import os
import unittest

from common import ENDPOINT, S3TestCase, bucket_name, client, signed_request, xml_error

FUNCTION_ARN = os.environ["FUNCTION_ARN"]
MISSING_ARN = FUNCTION_ARN.rsplit(":", 1)[0] + ":no-such-function-events"


def lambda_rule(rule_id, events, prefix=None, suffix=None, arn=FUNCTION_ARN):
    rule = {"Id": rule_id, "LambdaFunctionArn": arn, "Events": events}
    filters = []
    if prefix is not None:
        filters.append({"Name": "Prefix", "Value": prefix})
    if suffix is not None:
        filters.append({"Name": "Suffix", "Value": suffix})
    if filters:
        rule["Filter"] = {"Key": {"FilterRules": filters}}
    return rule


class NotificationConfig(S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = bucket_name("ev-boto3")
        cls.s3.create_bucket(Bucket=cls.bucket)

    def put(self, cfg, bucket=None):
        return self.s3.put_bucket_notification_configuration(
            Bucket=bucket or self.bucket, NotificationConfiguration=cfg)

    def get(self, bucket=None):
        got = self.s3.get_bucket_notification_configuration(Bucket=bucket or self.bucket)
        got.pop("ResponseMetadata")
        return got

    def test_round_trip(self):
        rules = [
            lambda_rule("images", ["s3:ObjectCreated:*"], prefix="images/", suffix=".jpg"),
            lambda_rule("deletes", ["s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"], prefix="images/"),
            lambda_rule("videos", ["s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"], suffix=".mp4"),
        ]
        bucket = bucket_name("ev-boto3-rt")
        self.s3.create_bucket(Bucket=bucket)
        self.put({"LambdaFunctionConfigurations": rules}, bucket)
        self.assertEqual(self.get(bucket), {"LambdaFunctionConfigurations": rules})

        # A rule without an Id gets one, as S3 assigns it.
        self.put({"LambdaFunctionConfigurations": [{"LambdaFunctionArn": FUNCTION_ARN, "Events": ["s3:ObjectCreated:*"]}]}, bucket)
        got = self.get(bucket)["LambdaFunctionConfigurations"]
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0]["Id"], got)
        self.assertEqual(got[0]["Events"], ["s3:ObjectCreated:*"])

        self.put({}, bucket)
        self.assertEqual(self.get(bucket), {})

    def test_new_bucket_has_none(self):
        bucket = bucket_name("ev-boto3-empty")
        self.s3.create_bucket(Bucket=bucket)
        self.assertEqual(self.get(bucket), {})

    def test_validation_errors(self):
        cases = {
            "unknown event": ({"LambdaFunctionConfigurations": [lambda_rule("x", ["s3:ObjectCreated:Nope"])]}, "InvalidArgument", 400),
            "unknown wildcard": ({"LambdaFunctionConfigurations": [lambda_rule("x", ["s3:Object*"])]}, "InvalidArgument", 400),
            "overlapping rules": ({"LambdaFunctionConfigurations": [
                lambda_rule("a", ["s3:ObjectCreated:*"], prefix="img/"),
                lambda_rule("b", ["s3:ObjectCreated:Put"], prefix="img/raw/"),
            ]}, "InvalidArgument", 400),
            "overlapping suffixes": ({"LambdaFunctionConfigurations": [
                lambda_rule("a", ["s3:ObjectRemoved:*"], suffix=".jpg"),
                lambda_rule("b", ["s3:ObjectRemoved:Delete"], suffix="large.jpg"),
            ]}, "InvalidArgument", 400),
            "duplicate ids": ({"LambdaFunctionConfigurations": [
                lambda_rule("same", ["s3:ObjectCreated:*"], prefix="a/"),
                lambda_rule("same", ["s3:ObjectCreated:*"], prefix="b/"),
            ]}, "InvalidArgument", 400),
            "missing function": ({"LambdaFunctionConfigurations": [lambda_rule("m", ["s3:ObjectCreated:*"], arn=MISSING_ARN)]}, "InvalidArgument", 400),
            "queue": ({"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectCreated:*"]}]}, "NotImplemented", 501),
            "topic": ({"TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Events": ["s3:ObjectCreated:*"]}]}, "NotImplemented", 501),
        }
        for name, (cfg, code, status) in cases.items():
            with self.subTest(name):
                self.assertClientError(code, status, self.put, cfg)
        err = self.assertClientError("InvalidArgument", 400, self.put,
                                     {"LambdaFunctionConfigurations": [lambda_rule("m", ["s3:ObjectCreated:*"], arn=MISSING_ARN)]})
        self.assertIn("Unable to validate the following destination configurations", err["Error"]["Message"])
        # Nothing was stored by the rejected puts.
        self.assertEqual(self.get(), {})

    def test_missing_bucket(self):
        missing = bucket_name("ev-no-such")
        self.assertClientError("NoSuchBucket", 404, self.put,
                               {"LambdaFunctionConfigurations": [lambda_rule("x", ["s3:ObjectCreated:*"])]}, missing)
        self.assertClientError("NoSuchBucket", 404, self.get, missing)

    def test_malformed_xml(self):
        for body in [b"<NotificationConfiguration><CloudFunctionConfiguration>", b"not xml at all",
                     b"<NotificationConfiguration></NotificationConfiguration><Extra/>"]:
            with self.subTest(body=body):
                r = signed_request("PUT", f"{ENDPOINT}/{self.bucket}?notification", body=body)
                self.assertEqual((r.status_code, xml_error(r.content)[0]), (400, "MalformedXML"), r.content)


if __name__ == "__main__":
    unittest.main()
