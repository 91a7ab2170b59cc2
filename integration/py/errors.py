"""Every S3 error a client is likely to meet, with AWS's code and status."""

import base64
import datetime
import hashlib
import unittest
from unittest import mock

import botocore.auth
import requests

import common

MiB = 1024 * 1024


class ErrorsTest(common.S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = common.client()
        cls.bucket = common.bucket_name("py-errors")
        cls.s3.create_bucket(Bucket=cls.bucket)
        cls.s3.put_object(Bucket=cls.bucket, Key="obj", Body=b"0123456789")
        cls.etag = cls.s3.head_object(Bucket=cls.bucket, Key="obj")["ETag"]

    @classmethod
    def tearDownClass(cls):
        common.empty_and_delete(cls.s3, cls.bucket)

    def test_no_such_bucket(self):
        missing = common.bucket_name("py-missing")
        err = self.assertClientError("NoSuchBucket", 404, self.s3.get_object, Bucket=missing, Key="k")
        self.assertEqual(err["Error"].get("BucketName"), missing)
        self.assertClientError("NoSuchBucket", 404, self.s3.list_objects_v2, Bucket=missing)
        self.assertClientError("NoSuchBucket", 404, self.s3.put_object, Bucket=missing, Key="k", Body=b"x")
        self.assertClientError("NoSuchBucket", 404, self.s3.delete_bucket, Bucket=missing)
        # HEAD carries no body: botocore reports the status as the code.
        self.assertClientError("404", 404, self.s3.head_bucket, Bucket=missing)

    def test_no_such_key(self):
        err = self.assertClientError("NoSuchKey", 404, self.s3.get_object, Bucket=self.bucket, Key="missing/key")
        self.assertEqual(err["Error"].get("Key"), "missing/key")
        self.assertClientError("404", 404, self.s3.head_object, Bucket=self.bucket, Key="missing/key")

    def test_bucket_already_owned_by_you(self):
        # Outside us-east-1 S3 answers 409 (us-east-1 keeps a legacy 200).
        eu = common.client(region="eu-west-1")
        name = common.bucket_name("py-eu")
        cfg = {"LocationConstraint": "eu-west-1"}
        eu.create_bucket(Bucket=name, CreateBucketConfiguration=cfg)
        try:
            self.assertClientError("BucketAlreadyOwnedByYou", 409, eu.create_bucket, Bucket=name,
                                   CreateBucketConfiguration=cfg)
            self.assertEqual(eu.get_bucket_location(Bucket=name)["LocationConstraint"], "eu-west-1")
        finally:
            eu.delete_bucket(Bucket=name)

    def test_recreate_owned_bucket_in_us_east_1(self):
        # S3's legacy rule: in us-east-1 re-creating your own bucket is a 200.
        res = self.s3.create_bucket(Bucket=self.bucket)
        self.assertEqual(res["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="obj")["Body"].read(), b"0123456789")

    def test_bucket_not_empty(self):
        self.assertClientError("BucketNotEmpty", 409, self.s3.delete_bucket, Bucket=self.bucket)

    def test_invalid_bucket_name(self):
        for name in ["Bad_Name", "ab", "a" * 64, "-leading-dash", "192.168.5.4", "double..dot"]:
            with self.subTest(name=name):
                self.assertClientError("InvalidBucketName", 400, self.s3.create_bucket, Bucket=name)

    def test_key_too_long(self):
        self.assertClientError("KeyTooLongError", 400, self.s3.put_object, Bucket=self.bucket,
                               Key="k" * 1025, Body=b"x")
        # 1024 bytes is the limit, and it is allowed.
        self.s3.put_object(Bucket=self.bucket, Key="k" * 1024, Body=b"x")
        self.s3.delete_object(Bucket=self.bucket, Key="k" * 1024)

    def _upload(self, key, sizes):
        uid = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        parts = []
        for n, size in enumerate(sizes, start=1):
            etag = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=n, Body=b"p" * size)["ETag"]
            parts.append({"PartNumber": n, "ETag": etag})
        return uid, parts

    def test_entity_too_small(self):
        uid, parts = self._upload("small-parts", [1024, 1024])
        try:
            self.assertClientError("EntityTooSmall", 400, self.s3.complete_multipart_upload, Bucket=self.bucket,
                                   Key="small-parts", UploadId=uid, MultipartUpload={"Parts": parts})
        finally:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key="small-parts", UploadId=uid)

    def test_invalid_part_and_order(self):
        uid, parts = self._upload("bad-parts", [5 * MiB, 10])
        try:
            wrong = [parts[0], {"PartNumber": 2, "ETag": '"00000000000000000000000000000000"'}]
            self.assertClientError("InvalidPart", 400, self.s3.complete_multipart_upload, Bucket=self.bucket,
                                   Key="bad-parts", UploadId=uid, MultipartUpload={"Parts": wrong})
            missing = [parts[0], {"PartNumber": 3, "ETag": parts[1]["ETag"]}]
            self.assertClientError("InvalidPart", 400, self.s3.complete_multipart_upload, Bucket=self.bucket,
                                   Key="bad-parts", UploadId=uid, MultipartUpload={"Parts": missing})
            self.assertClientError("InvalidPartOrder", 400, self.s3.complete_multipart_upload, Bucket=self.bucket,
                                   Key="bad-parts", UploadId=uid, MultipartUpload={"Parts": [parts[1], parts[0]]})
            # The failed completions left the upload intact.
            done = self.s3.complete_multipart_upload(Bucket=self.bucket, Key="bad-parts", UploadId=uid,
                                                     MultipartUpload={"Parts": parts})
            self.assertTrue(done["ETag"].endswith('-2"'))
        except Exception:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key="bad-parts", UploadId=uid)
            raise

    def test_no_such_upload(self):
        bogus = "bm90LWEtcmVhbC11cGxvYWQ"
        self.assertClientError("NoSuchUpload", 404, self.s3.upload_part, Bucket=self.bucket, Key="k",
                               UploadId=bogus, PartNumber=1, Body=b"x")
        self.assertClientError("NoSuchUpload", 404, self.s3.complete_multipart_upload, Bucket=self.bucket, Key="k",
                               UploadId=bogus, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
        self.assertClientError("NoSuchUpload", 404, self.s3.abort_multipart_upload, Bucket=self.bucket, Key="k",
                               UploadId=bogus)

    def test_malformed_xml(self):
        bad = b"<Tagging><TagSet><Tag>"
        md5 = base64.b64encode(hashlib.md5(bad).digest()).decode()
        r = common.signed_request("PUT", f"{common.ENDPOINT}/{self.bucket}?tagging", body=bad, headers={"Content-MD5": md5})
        self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (400, "MalformedXML"), r.text)
        r = common.signed_request("POST", f"{common.ENDPOINT}/{self.bucket}/mpu?uploads")
        uid = __import__("xml.etree.ElementTree", fromlist=["x"]).fromstring(r.content).findtext(
            "{http://s3.amazonaws.com/doc/2006-03-01/}UploadId")
        self.assertTrue(uid, r.text)
        r = common.signed_request("POST", f"{common.ENDPOINT}/{self.bucket}/mpu?uploadId={uid}", body=b"not xml at all")
        self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (400, "MalformedXML"), r.text)
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="mpu", UploadId=uid)

    def test_invalid_argument(self):
        uid = self.s3.create_multipart_upload(Bucket=self.bucket, Key="pn")["UploadId"]
        try:
            for pn in (0, 10001):
                with self.subTest(part_number=pn):
                    self.assertClientError("InvalidArgument", 400, self.s3.upload_part, Bucket=self.bucket,
                                           Key="pn", UploadId=uid, PartNumber=pn, Body=b"x")
        finally:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key="pn", UploadId=uid)
        self.assertClientError("InvalidArgument", 400, self.s3.list_objects_v2, Bucket=self.bucket, EncodingType="bogus")
        self.assertClientError("InvalidArgument", 400, self.s3.list_objects_v2, Bucket=self.bucket, MaxKeys=-1)

    def test_invalid_range(self):
        err = self.assertClientError("InvalidRange", 416, self.s3.get_object, Bucket=self.bucket, Key="obj",
                                     Range="bytes=100-200")
        self.assertEqual(err["Error"].get("ActualObjectSize"), "10")
        # A syntactically invalid range is ignored: the whole object comes back.
        got = self.s3.get_object(Bucket=self.bucket, Key="obj", Range="bytes=garbage")
        self.assertEqual(got["Body"].read(), b"0123456789")
        got = self.s3.get_object(Bucket=self.bucket, Key="obj", Range="bytes=-3")
        self.assertEqual((got["Body"].read(), got["ContentRange"]), (b"789", "bytes 7-9/10"))
        got = self.s3.get_object(Bucket=self.bucket, Key="obj", Range="bytes=8-")
        self.assertEqual((got["Body"].read(), got["ResponseMetadata"]["HTTPStatusCode"]), (b"89", 206))

    def test_preconditions(self):
        self.assertClientError("PreconditionFailed", 412, self.s3.get_object, Bucket=self.bucket, Key="obj",
                               IfMatch='"0123"')
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertClientError("PreconditionFailed", 412, self.s3.get_object, Bucket=self.bucket, Key="obj",
                               IfUnmodifiedSince=past)
        self.assertClientError("304", 304, self.s3.get_object, Bucket=self.bucket, Key="obj", IfNoneMatch=self.etag)
        self.assertClientError("304", 304, self.s3.head_object, Bucket=self.bucket, Key="obj", IfModifiedSince=future)
        self.assertClientError("412", 412, self.s3.head_object, Bucket=self.bucket, Key="obj", IfMatch='"nope"')
        # If-Match wins over If-Unmodified-Since, as RFC 7232 and S3 say.
        got = self.s3.get_object(Bucket=self.bucket, Key="obj", IfMatch=self.etag, IfUnmodifiedSince=past)
        self.assertEqual(got["Body"].read(), b"0123456789")
        # If-None-Match failing wins over If-Modified-Since: 304.
        self.assertClientError("304", 304, self.s3.get_object, Bucket=self.bucket, Key="obj",
                               IfNoneMatch=self.etag, IfModifiedSince=past)

    def test_metadata_too_large(self):
        self.assertClientError("MetadataTooLarge", 400, self.s3.put_object, Bucket=self.bucket, Key="big-meta",
                               Body=b"x", Metadata={"m": "v" * 2100})

    def test_invalid_digest(self):
        self.assertClientError("InvalidDigest", 400, self.s3.put_object, Bucket=self.bucket, Key="digest",
                               Body=b"x", ContentMD5="not-base64!")
        self.assertClientError("NoSuchKey", 404, self.s3.get_object, Bucket=self.bucket, Key="digest")

    def test_delete_objects_over_1000(self):
        keys = [{"Key": f"k{i}"} for i in range(1001)]
        self.assertClientError("MalformedXML", 400, self.s3.delete_objects, Bucket=self.bucket,
                               Delete={"Objects": keys, "Quiet": True})

    def test_bad_continuation_token(self):
        self.assertClientError("InvalidArgument", 400, self.s3.list_objects_v2, Bucket=self.bucket,
                               ContinuationToken="this-is-not-a-token")

    def test_explicit_deny_policy(self):
        name = common.bucket_name("py-deny")
        self.s3.create_bucket(Bucket=name)
        try:
            self.s3.put_object(Bucket=name, Key="keep", Body=b"precious")
            policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
                      '"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::%s/*"}]}' % name)
            self.s3.put_bucket_policy(Bucket=name, Policy=policy)
            # An explicit deny binds even the owner's signed requests.
            self.assertClientError("AccessDenied", 403, self.s3.delete_object, Bucket=name, Key="keep")
            self.assertEqual(self.s3.get_object(Bucket=name, Key="keep")["Body"].read(), b"precious")
            self.s3.delete_bucket_policy(Bucket=name)
        finally:
            common.empty_and_delete(self.s3, name)

    def test_not_implemented(self):
        self.assertClientError("NotImplemented", 501, self.s3.get_bucket_lifecycle_configuration, Bucket=self.bucket)

    def test_anonymous_access_via_policy(self):
        name = common.bucket_name("py-public")
        self.s3.create_bucket(Bucket=name)
        try:
            self.s3.put_object(Bucket=name, Key="pub/img.jpg", Body=b"jpeg bytes")
            url = f"{common.ENDPOINT}/{name}/pub/img.jpg"
            r = requests.get(url, timeout=30)
            self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (403, "AccessDenied"), r.text)
            r = requests.get(f"{common.ENDPOINT}/{name}?list-type=2", timeout=30)
            self.assertEqual(r.status_code, 403, r.text)

            policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
                      '"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}' % name)
            self.s3.put_bucket_policy(Bucket=name, Policy=policy)
            r = requests.get(url, timeout=30)
            self.assertEqual((r.status_code, r.content), (200, b"jpeg bytes"))
            # The grant covers reads of objects only: no listing, no writes.
            r = requests.get(f"{common.ENDPOINT}/{name}?list-type=2", timeout=30)
            self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (403, "AccessDenied"), r.text)
            r = requests.put(f"{common.ENDPOINT}/{name}/pub/new", data=b"x", timeout=30)
            self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (403, "AccessDenied"), r.text)
            # Response header overrides are for signed requests only.
            r = requests.get(url + "?response-content-type=text%2Fhtml", timeout=30)
            self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (400, "InvalidRequest"), r.text)
            r = requests.get(f"{common.ENDPOINT}/{name}/pub/absent", timeout=30)
            self.assertIn(r.status_code, (403, 404), r.text)

            self.assertClientError("MalformedPolicy", 400, self.s3.put_bucket_policy, Bucket=name, Policy="{not json")
        finally:
            self.s3.delete_bucket_policy(Bucket=name)
            common.empty_and_delete(self.s3, name)

    def test_signature_does_not_match(self):
        bad = common.client(secret_key="not-the-secret")
        self.assertClientError("SignatureDoesNotMatch", 403, bad.list_buckets)
        self.assertClientError("SignatureDoesNotMatch", 403, bad.put_object, Bucket=self.bucket, Key="sig", Body=b"x")
        self.assertClientError("NoSuchKey", 404, self.s3.get_object, Bucket=self.bucket, Key="sig")

    def test_invalid_access_key_id(self):
        bad = common.client(access_key="AKIDNOTKNOWN", secret_key="whatever")
        self.assertClientError("InvalidAccessKeyId", 403, bad.list_objects_v2, Bucket=self.bucket)

    def test_request_time_too_skewed(self):
        skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=skewed.replace(tzinfo=None)):
            self.assertClientError("RequestTimeTooSkewed", 403, self.s3.list_objects_v2, Bucket=self.bucket)

    def test_unauthenticated_list_buckets(self):
        r = requests.get(common.ENDPOINT + "/", timeout=30)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(common.xml_error(r.content)[0], "AccessDenied")


if __name__ == "__main__":
    unittest.main()
