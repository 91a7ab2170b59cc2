"""Object operations through boto3: copy, tagging, presigned URLs, deletes."""

import hashlib
import unittest

import requests

import common


class ObjectsTest(common.S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = common.client()
        cls.bucket = common.bucket_name("py-objects")
        cls.s3.create_bucket(Bucket=cls.bucket)

    @classmethod
    def tearDownClass(cls):
        common.empty_and_delete(cls.s3, cls.bucket)

    def test_put_get_metadata(self):
        body = b"some bytes for metadata"
        put = self.s3.put_object(Bucket=self.bucket, Key="meta", Body=body, ContentType="text/plain",
                                 Metadata={"Alpha": "one", "beta": "two"}, ContentLanguage="en")
        self.assertEqual(put["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
        got = self.s3.get_object(Bucket=self.bucket, Key="meta")
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(got["ContentType"], "text/plain")
        self.assertEqual(got["ContentLanguage"], "en")
        self.assertEqual(got["Metadata"], {"alpha": "one", "beta": "two"})
        self.assertEqual(got["ETag"], put["ETag"])

    def test_response_overrides(self):
        self.s3.put_object(Bucket=self.bucket, Key="override", Body=b"data", ContentType="text/plain")
        got = self.s3.get_object(Bucket=self.bucket, Key="override", ResponseContentType="image/png",
                                 ResponseContentDisposition='attachment; filename="x.png"',
                                 ResponseCacheControl="no-store")
        self.assertEqual(got["ContentType"], "image/png")
        self.assertEqual(got["ContentDisposition"], 'attachment; filename="x.png"')
        self.assertEqual(got["CacheControl"], "no-store")

    def test_copy_object(self):
        self.s3.put_object(Bucket=self.bucket, Key="src", Body=b"copy me", Metadata={"k": "v"},
                           Tagging="t=1")
        other = common.bucket_name("py-objects-dst")
        self.s3.create_bucket(Bucket=other)
        try:
            res = self.s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": self.bucket, "Key": "src"})
            self.assertEqual(res["CopyObjectResult"]["ETag"], '"%s"' % hashlib.md5(b"copy me").hexdigest())
            got = self.s3.get_object(Bucket=other, Key="dst")
            self.assertEqual(got["Body"].read(), b"copy me")
            self.assertEqual(got["Metadata"], {"k": "v"})
            # The tagging directive defaults to COPY.
            self.assertEqual(self.s3.get_object_tagging(Bucket=other, Key="dst")["TagSet"], [{"Key": "t", "Value": "1"}])

            self.s3.copy_object(Bucket=other, Key="dst2", CopySource=f"{self.bucket}/src",
                                MetadataDirective="REPLACE", Metadata={"n": "w"},
                                TaggingDirective="REPLACE", Tagging="u=2")
            head = self.s3.head_object(Bucket=other, Key="dst2")
            self.assertEqual(head["Metadata"], {"n": "w"})
            self.assertEqual(self.s3.get_object_tagging(Bucket=other, Key="dst2")["TagSet"], [{"Key": "u", "Value": "2"}])

            etag = res["CopyObjectResult"]["ETag"]
            self.assertClientError("PreconditionFailed", 412, self.s3.copy_object, Bucket=other, Key="dst3",
                                   CopySource=f"{self.bucket}/src", CopySourceIfMatch='"0000"')
            self.s3.copy_object(Bucket=other, Key="dst3", CopySource=f"{self.bucket}/src", CopySourceIfMatch=etag)
            self.assertClientError("NoSuchKey", 404, self.s3.copy_object, Bucket=other, Key="dst4",
                                   CopySource=f"{self.bucket}/missing")
        finally:
            common.empty_and_delete(self.s3, other)

    def test_copy_onto_itself_replacing_metadata(self):
        self.s3.put_object(Bucket=self.bucket, Key="touch", Body=b"same bytes", ContentType="text/plain",
                           Metadata={"v": "1"})
        self.s3.copy_object(Bucket=self.bucket, Key="touch", CopySource={"Bucket": self.bucket, "Key": "touch"},
                            MetadataDirective="REPLACE", ContentType="text/markdown", Metadata={"v": "2"})
        got = self.s3.get_object(Bucket=self.bucket, Key="touch")
        self.assertEqual((got["Body"].read(), got["ContentType"], got["Metadata"]),
                         (b"same bytes", "text/markdown", {"v": "2"}))
        self.assertClientError("InvalidRequest", 400, self.s3.copy_object, Bucket=self.bucket, Key="touch",
                               CopySource={"Bucket": self.bucket, "Key": "touch"})

    def test_content_encoding_and_expires(self):
        import datetime
        exp = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        self.s3.put_object(Bucket=self.bucket, Key="gz", Body=b"\x1f\x8b fake", ContentEncoding="gzip", Expires=exp)
        head = self.s3.head_object(Bucket=self.bucket, Key="gz")
        self.assertEqual(head["ContentEncoding"], "gzip")
        self.assertEqual(head["ResponseMetadata"]["HTTPHeaders"].get("expires"), "Wed, 02 Jan 2030 03:04:05 GMT")

    def test_object_tagging(self):
        self.s3.put_object(Bucket=self.bucket, Key="tagged", Body=b"x")
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key="tagged")["TagSet"], [])
        tags = [{"Key": "color", "Value": "red"}, {"Key": "size", "Value": "L"}]
        self.s3.put_object_tagging(Bucket=self.bucket, Key="tagged", Tagging={"TagSet": tags})
        got = self.s3.get_object_tagging(Bucket=self.bucket, Key="tagged")["TagSet"]
        self.assertEqual(sorted(got, key=lambda t: t["Key"]), tags)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="tagged")["TagCount"], 2)
        self.s3.delete_object_tagging(Bucket=self.bucket, Key="tagged")
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key="tagged")["TagSet"], [])
        self.assertClientError("InvalidTag", 400, self.s3.put_object_tagging, Bucket=self.bucket, Key="tagged",
                               Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
        self.assertClientError("NoSuchKey", 404, self.s3.get_object_tagging, Bucket=self.bucket, Key="nope")

    def test_presigned_get_and_put(self):
        url = self.s3.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": "presigned/up"},
                                             ExpiresIn=300)
        r = requests.put(url, data=b"uploaded through a presigned URL", timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "presigned/up"},
                                             ExpiresIn=300)
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.content, b"uploaded through a presigned URL")

        url = self.s3.generate_presigned_url("get_object", Params={
            "Bucket": self.bucket, "Key": "presigned/up", "ResponseContentType": "text/x-test"}, ExpiresIn=300)
        r = requests.get(url, timeout=30)
        self.assertEqual((r.status_code, r.headers.get("Content-Type")), (200, "text/x-test"))

        # A presigned GET URL does not authorize a PUT.
        r = requests.put(url, data=b"nope", timeout=30)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(common.xml_error(r.content)[0], "SignatureDoesNotMatch")

        # Presigning with the wrong secret is refused.
        bad = common.client(secret_key="wrong").generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": "presigned/up"}, ExpiresIn=300)
        r = requests.get(bad, timeout=30)
        self.assertEqual((r.status_code, common.xml_error(r.content)[0]), (403, "SignatureDoesNotMatch"))

    def test_delete_objects_quiet(self):
        keys = [f"del/{i}" for i in range(5)]
        for k in keys:
            self.s3.put_object(Bucket=self.bucket, Key=k, Body=b"d")
        res = self.s3.delete_objects(Bucket=self.bucket, Delete={
            "Objects": [{"Key": k} for k in keys] + [{"Key": "del/never-existed"}], "Quiet": True})
        self.assertEqual(res.get("Deleted", []), [])
        self.assertEqual(res.get("Errors", []), [])
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.bucket, Prefix="del/")["KeyCount"], 0)

        self.s3.put_object(Bucket=self.bucket, Key="del/loud", Body=b"d")
        res = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "del/loud"}]})
        self.assertEqual([d["Key"] for d in res["Deleted"]], ["del/loud"])

    def test_delete_missing_is_204(self):
        res = self.s3.delete_object(Bucket=self.bucket, Key="never/there")
        self.assertEqual(res["ResponseMetadata"]["HTTPStatusCode"], 204)

    def test_conditional_writes(self):
        self.s3.put_object(Bucket=self.bucket, Key="cond", Body=b"first", IfNoneMatch="*")
        self.assertClientError("PreconditionFailed", 412, self.s3.put_object,
                               Bucket=self.bucket, Key="cond", Body=b"second", IfNoneMatch="*")
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="cond")["Body"].read(), b"first")

    def test_multipart_low_level(self):
        mib = 1024 * 1024
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key="mpu", ContentType="video/mp4",
                                             Metadata={"m": "1"})
        uid = up["UploadId"]
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket)
        self.assertIn(uid, [u["UploadId"] for u in listed.get("Uploads", [])])
        p1 = b"a" * (5 * mib)
        p2 = b"b" * 1234
        e1 = self.s3.upload_part(Bucket=self.bucket, Key="mpu", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
        self.s3.put_object(Bucket=self.bucket, Key="copy-src", Body=b"0123456789" * 1000)
        e2 = self.s3.upload_part_copy(Bucket=self.bucket, Key="mpu", UploadId=uid, PartNumber=2,
                                      CopySource=f"{self.bucket}/copy-src", CopySourceRange="bytes=10-1243")["CopyPartResult"]["ETag"]
        self.assertEqual(e2, '"%s"' % hashlib.md5(((b"0123456789" * 1000)[10:1244])).hexdigest())
        parts = self.s3.list_parts(Bucket=self.bucket, Key="mpu", UploadId=uid)["Parts"]
        self.assertEqual([(p["PartNumber"], p["Size"], p["ETag"]) for p in parts], [(1, len(p1), e1), (2, 1234, e2)])
        done = self.s3.complete_multipart_upload(Bucket=self.bucket, Key="mpu", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        self.assertTrue(done["ETag"].endswith('-2"'), done["ETag"])
        got = self.s3.get_object(Bucket=self.bucket, Key="mpu")
        self.assertEqual(got["Body"].read(), p1 + (b"0123456789" * 1000)[10:1244])
        self.assertEqual(got["ContentType"], "video/mp4")
        self.assertEqual(got["Metadata"], {"m": "1"})
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket)
        self.assertNotIn(uid, [u["UploadId"] for u in listed.get("Uploads", [])])

        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key="aborted")
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="aborted", UploadId=up["UploadId"])
        self.assertClientError("NoSuchUpload", 404, self.s3.list_parts, Bucket=self.bucket, Key="aborted",
                               UploadId=up["UploadId"])


if __name__ == "__main__":
    unittest.main()
