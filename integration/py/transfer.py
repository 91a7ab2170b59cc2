"""boto3 managed transfers: multipart upload_file and download_file."""

import hashlib
import os
import tempfile
import unittest

from boto3.s3.transfer import TransferConfig

import common

MiB = 1024 * 1024


class TransferTest(common.S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = common.client()
        cls.bucket = common.bucket_name("py-transfer")
        cls.s3.create_bucket(Bucket=cls.bucket)
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        common.empty_and_delete(cls.s3, cls.bucket)
        cls.tmp.cleanup()

    def test_multipart_upload_and_download(self):
        src = os.path.join(self.tmp.name, "src.bin")
        data = os.urandom(20 * MiB)
        with open(src, "wb") as f:
            f.write(data)
        cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
        self.s3.upload_file(src, self.bucket, "big/object.bin", Config=cfg,
                            ExtraArgs={"Metadata": {"origin": "boto3"}, "ContentType": "application/octet-stream"})

        head = self.s3.head_object(Bucket=self.bucket, Key="big/object.bin")
        self.assertEqual(head["ContentLength"], 20 * MiB)
        # 20 MiB in 8 MiB parts is three parts: the ETag says so.
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
        self.assertEqual(head["Metadata"], {"origin": "boto3"})

        part = self.s3.head_object(Bucket=self.bucket, Key="big/object.bin", PartNumber=3)
        self.assertEqual(part["ContentLength"], 4 * MiB)
        self.assertEqual(part.get("PartsCount"), 3)

        dst = os.path.join(self.tmp.name, "dst.bin")
        self.s3.download_file(self.bucket, "big/object.bin", dst, Config=cfg)
        with open(dst, "rb") as f:
            got = f.read()
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())

        # A single part fetched with partNumber is that part's bytes.
        body = self.s3.get_object(Bucket=self.bucket, Key="big/object.bin", PartNumber=2)["Body"].read()
        self.assertEqual(body, data[8 * MiB:16 * MiB])

    def test_small_upload_fileobj(self):
        import io
        self.s3.upload_fileobj(io.BytesIO(b"tiny"), self.bucket, "small.txt")
        buf = io.BytesIO()
        self.s3.download_fileobj(self.bucket, "small.txt", buf)
        self.assertEqual(buf.getvalue(), b"tiny")


if __name__ == "__main__":
    unittest.main()
