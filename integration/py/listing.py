"""Listing at scale: 2,500 keys through the list_objects_v2 paginator."""

import concurrent.futures
import unittest
import urllib.parse

import common

N = 2500


class ListingTest(common.S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = common.client(max_pool_connections=16)
        cls.bucket = common.bucket_name("py-list")
        cls.s3.create_bucket(Bucket=cls.bucket)
        # Keys whose byte order differs from naive numeric order.
        cls.keys = sorted(f"k/{i:05d}" for i in range(N))

        def put(key):
            cls.s3.put_object(Bucket=cls.bucket, Key=key, Body=key.encode())

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, cls.keys))
        for key in ["a/1", "a/2", "a/b/3", "b/1", "c", "d/e/f/g"]:
            put(key)

    @classmethod
    def tearDownClass(cls):
        common.empty_and_delete(cls.s3, cls.bucket)

    def test_paginator_v2(self):
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="k/", PaginationConfig={"PageSize": 1000})
        got, sizes = [], []
        for page in pages:
            sizes.append(page["KeyCount"])
            self.assertEqual(page["MaxKeys"], 1000)
            got.extend(o["Key"] for o in page.get("Contents", []))
            for o in page.get("Contents", []):
                self.assertEqual(o["Size"], len(o["Key"]))
        self.assertEqual(sizes, [1000, 1000, 500])
        self.assertEqual(len(got), N)
        self.assertEqual(got, self.keys)

    def test_paginator_v1(self):
        pages = self.s3.get_paginator("list_objects").paginate(
            Bucket=self.bucket, Prefix="k/", PaginationConfig={"PageSize": 1000})
        got = [o["Key"] for page in pages for o in page.get("Contents", [])]
        self.assertEqual(got, self.keys)

    def test_v1_next_marker_with_delimiter(self):
        # ListObjects (v1) returns NextMarker only when a delimiter is given.
        seen, marker = [], ""
        for _ in range(10):
            resp = self.s3.list_objects(Bucket=self.bucket, Delimiter="/", MaxKeys=2, Marker=marker)
            seen += [p["Prefix"] for p in resp.get("CommonPrefixes", [])] + [o["Key"] for o in resp.get("Contents", [])]
            if not resp["IsTruncated"]:
                break
            marker = resp["NextMarker"]
        self.assertEqual(sorted(seen), ["a/", "b/", "c", "d/", "k/"])
        resp = self.s3.list_objects(Bucket=self.bucket, Prefix="k/", MaxKeys=3)
        self.assertTrue(resp["IsTruncated"])
        self.assertNotIn("NextMarker", resp)
        self.assertEqual([o["Key"] for o in resp["Contents"]], self.keys[:3])

    def test_max_keys_zero(self):
        resp = self.s3.list_objects_v2(Bucket=self.bucket, MaxKeys=0)
        self.assertEqual((resp["KeyCount"], resp.get("Contents", [])), (0, []))

    def test_default_max_keys(self):
        resp = self.s3.list_objects_v2(Bucket=self.bucket)
        self.assertEqual(resp["KeyCount"], 1000)
        self.assertTrue(resp["IsTruncated"])
        self.assertIn("NextContinuationToken", resp)

    def test_delimiter(self):
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in resp["CommonPrefixes"]], ["a/", "b/", "d/", "k/"])
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["c"])
        self.assertEqual(resp["KeyCount"], 5)

        resp = self.s3.list_objects_v2(Bucket=self.bucket, Delimiter="/", Prefix="a/")
        self.assertEqual([p["Prefix"] for p in resp.get("CommonPrefixes", [])], ["a/b/"])
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["a/1", "a/2"])

    def test_delimiter_pagination_counts_prefixes(self):
        # Common prefixes count toward MaxKeys and are never repeated across pages.
        seen, token, pages = [], None, 0
        while True:
            kw = {"Bucket": self.bucket, "Delimiter": "/", "MaxKeys": 2}
            if token:
                kw["ContinuationToken"] = token
            resp = self.s3.list_objects_v2(**kw)
            pages += 1
            entries = [p["Prefix"] for p in resp.get("CommonPrefixes", [])] + [o["Key"] for o in resp.get("Contents", [])]
            self.assertLessEqual(len(entries), 2)
            seen.extend(entries)
            if not resp["IsTruncated"]:
                break
            token = resp["NextContinuationToken"]
            self.assertLess(pages, 10)
        self.assertEqual(sorted(seen), ["a/", "b/", "c", "d/", "k/"])

    def test_start_after_and_fetch_owner(self):
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="k/", StartAfter="k/02497", FetchOwner=True)
        self.assertEqual([o["Key"] for o in resp["Contents"]], ["k/02498", "k/02499"])
        self.assertTrue(resp["Contents"][0]["Owner"]["ID"])
        # Without FetchOwner, ListObjectsV2 leaves the owner out.
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="k/", StartAfter="k/02497")
        self.assertNotIn("Owner", resp["Contents"][0])

    def test_encoding_type_url(self):
        self.s3.put_object(Bucket=self.bucket, Key="enc/a b+c%d", Body=b"x")
        try:
            # botocore decodes keys itself only when it chose the encoding;
            # asked for explicitly, the wire form comes through untouched.
            resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="enc/", EncodingType="url")
            self.assertEqual(resp["EncodingType"], "url")
            self.assertEqual([urllib.parse.unquote_plus(o["Key"]) for o in resp["Contents"]], ["enc/a b+c%d"])
            self.assertEqual(urllib.parse.unquote_plus(resp["Prefix"]), "enc/")
            # Left to itself botocore asks for url encoding and decodes.
            resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="enc/")
            self.assertEqual([o["Key"] for o in resp["Contents"]], ["enc/a b+c%d"])
        finally:
            self.s3.delete_object(Bucket=self.bucket, Key="enc/a b+c%d")


if __name__ == "__main__":
    unittest.main()
