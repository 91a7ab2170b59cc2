"""Object versioning through boto3: versions of one key, paging through
list_object_versions with MaxKeys, GET/HEAD/copy/tagging of one version,
delete markers and their removal, and the errors S3 answers."""

import unittest

import common


def versions_of(s3, bucket, **kwargs):
    """Every version and delete marker in bucket, through the paginator, as
    (key, version id, is latest, "v" or "m") in listing order, and the pages."""
    out, pages = [], 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kwargs):
        pages += 1
        entries = [(v["Key"], v["VersionId"], v["IsLatest"], "v", v["LastModified"]) for v in page.get("Versions", [])]
        entries += [(m["Key"], m["VersionId"], m["IsLatest"], "m", m["LastModified"]) for m in page.get("DeleteMarkers", [])]
        out.extend(entries)
    return out, pages


class VersioningTest(common.S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = common.client()

    def setUp(self):
        self.bucket = common.bucket_name("py-versions")
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def tearDown(self):
        try:
            for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
                for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    self.s3.delete_object(Bucket=self.bucket, Key=v["Key"], VersionId=v["VersionId"])
            self.s3.delete_bucket(Bucket=self.bucket)
        except common.ClientError:
            pass

    def test_get_bucket_versioning(self):
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket)["Status"], "Enabled")
        fresh = common.bucket_name("py-unversioned")
        self.s3.create_bucket(Bucket=fresh)
        try:
            self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=fresh))
        finally:
            self.s3.delete_bucket(Bucket=fresh)

    def test_pages_with_max_keys(self):
        made = {}
        for key, n in (("a", 3), ("b", 1), ("c", 2)):
            made[key] = [self.s3.put_object(Bucket=self.bucket, Key=key, Body=f"{key}{i}".encode())["VersionId"]
                         for i in range(n)]
        marker = self.s3.delete_object(Bucket=self.bucket, Key="b")
        self.assertTrue(marker["DeleteMarker"])

        listed, pages = versions_of(self.s3, self.bucket, PaginationConfig={"PageSize": 2})
        self.assertEqual(pages, 4, "7 entries at 2 a page")
        ids = [(k, v) for k, v, _, _, _ in listed]
        self.assertEqual(len(ids), len(set(ids)), f"an entry listed twice: {ids}")
        by_key = {}
        for k, v, latest, kind, _ in listed:
            by_key.setdefault(k, []).append((v, latest, kind))
        self.assertEqual(sorted(by_key), ["a", "b", "c"])
        for key in ("a", "c"):
            self.assertEqual([v for v, _, _ in by_key[key]], list(reversed(made[key])), f"versions of {key}, newest first")
            self.assertEqual([latest for _, latest, _ in by_key[key]], [True] + [False] * (len(made[key]) - 1))
        self.assertEqual(sorted((v, latest, kind) for v, latest, kind in by_key["b"]),
                         sorted([(marker["VersionId"], True, "m"), (made["b"][0], False, "v")]))

        # One page at a time, resuming from the markers S3 hands back.
        first = self.s3.list_object_versions(Bucket=self.bucket, MaxKeys=2)
        self.assertTrue(first["IsTruncated"])
        self.assertEqual((first["NextKeyMarker"], first["NextVersionIdMarker"]), ("a", made["a"][1]))
        second = self.s3.list_object_versions(Bucket=self.bucket, MaxKeys=2, KeyMarker=first["NextKeyMarker"],
                                              VersionIdMarker=first["NextVersionIdMarker"])
        got = [(v["Key"], v["VersionId"]) for v in second.get("Versions", [])] + \
              [(m["Key"], m["VersionId"]) for m in second.get("DeleteMarkers", [])]
        self.assertIn(("a", made["a"][0]), got)
        self.assertEqual(len(got), 2)

        # A prefix and a delimiter group keys as ListObjects does.
        self.s3.put_object(Bucket=self.bucket, Key="dir/x", Body=b"x")
        grouped = self.s3.list_object_versions(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in grouped.get("CommonPrefixes", [])], ["dir/"])

    def test_one_version(self):
        v1 = self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"one", Tagging="n=1")["VersionId"]
        v2 = self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"two!")["VersionId"]
        got = self.s3.get_object(Bucket=self.bucket, Key="k", VersionId=v1)
        self.assertEqual((got["Body"].read(), got["VersionId"]), (b"one", v1))
        head = self.s3.head_object(Bucket=self.bucket, Key="k", VersionId=v1)
        self.assertEqual((head["ContentLength"], head["VersionId"]), (3, v1))
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="k")["VersionId"], v2)

        # Tagging one version leaves the others alone.
        tags = self.s3.get_object_tagging(Bucket=self.bucket, Key="k", VersionId=v1)
        self.assertEqual((tags["TagSet"], tags["VersionId"]), ([{"Key": "n", "Value": "1"}], v1))
        put = self.s3.put_object_tagging(Bucket=self.bucket, Key="k", VersionId=v1,
                                         Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
        self.assertEqual(put["VersionId"], v1)
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key="k", VersionId=v1)["TagSet"],
                         [{"Key": "old", "Value": "yes"}])
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key="k")["TagSet"], [])

        # Copying an older version makes it the newest, with its own id.
        copy = self.s3.copy_object(Bucket=self.bucket, Key="k", CopySource={"Bucket": self.bucket, "Key": "k", "VersionId": v1})
        self.assertEqual(copy["CopySourceVersionId"], v1)
        self.assertNotIn(copy["VersionId"], (v1, v2))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"one")

        # A version removed for good is gone.
        self.s3.delete_object(Bucket=self.bucket, Key="k", VersionId=v2)
        self.assertClientError("NoSuchVersion", 404, self.s3.get_object, Bucket=self.bucket, Key="k", VersionId=v2)

    def test_delete_marker(self):
        v1 = self.s3.put_object(Bucket=self.bucket, Key="gone", Body=b"data")["VersionId"]
        d = self.s3.delete_object(Bucket=self.bucket, Key="gone")
        self.assertTrue(d["DeleteMarker"])
        marker = d["VersionId"]
        self.assertNotEqual(marker, v1)
        err = self.assertClientError("404", 404, self.s3.head_object, Bucket=self.bucket, Key="gone")
        self.assertEqual(err["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker"), "true")
        self.assertClientError("NoSuchKey", 404, self.s3.get_object, Bucket=self.bucket, Key="gone")
        # A marker named by its id: 405, as S3 answers.
        self.assertClientError("MethodNotAllowed", 405, self.s3.get_object, Bucket=self.bucket, Key="gone", VersionId=marker)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="gone", VersionId=v1)["Body"].read(), b"data")
        # Removing the marker brings the object back.
        r = self.s3.delete_object(Bucket=self.bucket, Key="gone", VersionId=marker)
        self.assertEqual((r.get("DeleteMarker"), r["VersionId"]), (True, marker))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="gone")["Body"].read(), b"data")

    def test_suspended_null_version(self):
        self.s3.put_object(Bucket=self.bucket, Key="n", Body=b"versioned")
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Suspended"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket)["Status"], "Suspended")
        self.assertEqual(self.s3.put_object(Bucket=self.bucket, Key="n", Body=b"null 1")["VersionId"], "null")
        self.assertEqual(self.s3.put_object(Bucket=self.bucket, Key="n", Body=b"null 2")["VersionId"], "null")
        listed, _ = versions_of(self.s3, self.bucket)
        self.assertEqual(sorted(v for _, v, _, _, _ in listed if v == "null"), ["null"], "one null version, replaced")
        self.assertEqual(len(listed), 2)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="n", VersionId="null")["Body"].read(), b"null 2")


if __name__ == "__main__":
    unittest.main()
