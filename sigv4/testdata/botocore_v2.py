"""Sign S3 requests with botocore's Signature Version 2 signers and print them.

The Go test TestBotocoreV2RoundTrip runs this script and verifies every
request it prints, so the verifier is checked against an independent
implementation: botocore's HmacV1Auth (the "s3" signature version, header
auth) and HmacV1QueryAuth (the "s3-query" presigned URLs `aws s3 presign`
makes). Requests go through a real botocore client (serializer, addressing
style, checksum handlers) and are captured before they are sent.

Output: one JSON object, {"now": unix seconds, "cases": [{"name", "method",
"url", "headers": [[name, value], ...], "body"}]}. Exit status 3 means
botocore is not installed.
"""

import json
import sys
import time

NOW = 1772366400  # 2026-03-01T12:00:00Z; the Go test pins its clock here.
time.time = lambda: float(NOW)

try:
    import botocore.session
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config
except ImportError as exc:  # pragma: no cover - environment check
    print(f"botocore is not installed: {exc}", file=sys.stderr)
    sys.exit(3)

ENDPOINT = "http://localhost.test:4566"
KEY_ODD = "dir/a b+c%d/\u00fc=~!'()*.txt"


class _EmptyRaw:
    def stream(self, **_):
        return iter([b""])


def make_client(session, signature_version, style):
    cfg = Config(
        signature_version=signature_version,
        s3={"addressing_style": style},
        retries={"max_attempts": 1},
    )
    client = session.create_client(
        "s3", region_name="us-east-1", endpoint_url=ENDPOINT, config=cfg
    )
    return client


def capture(client, call):
    """Run one client call and return the request it would have sent."""
    seen = []

    def before_send(request, **_):
        seen.append(request)
        return AWSResponse(request.url, 200, {}, _EmptyRaw())

    client.meta.events.register("before-send", before_send)
    try:
        call()
    except Exception:  # the fake response may not parse; the request is what matters
        pass
    finally:
        client.meta.events.unregister("before-send", before_send)
    if not seen:
        raise RuntimeError("no request captured")
    req = seen[-1]
    body = req.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    headers = []
    for k, v in req.headers.items():
        headers.append([k, v.decode() if isinstance(v, bytes) else str(v)])
    return {
        "method": req.method,
        "url": req.url,
        "headers": headers,
        "body": body.decode("latin-1"),
    }


def main():
    session = botocore.session.get_session()
    session.set_credentials("test", "test")
    cases = []

    for style in ("path", "virtual"):
        c = make_client(session, "s3", style)
        header_calls = {
            "put with metadata and content type": lambda: c.put_object(
                Bucket="photos",
                Key=KEY_ODD,
                Body=b"hello",
                ContentType="text/plain",
                Metadata={"reviewed-by": " joe ", "n": "1"},
            ),
            "put with content md5": lambda: c.put_object(
                Bucket="photos",
                Key="k",
                Body=b"hello",
                ContentMD5="XUFAKrxLKna5cZ2REBfFkg==",
            ),
            "get object tagging": lambda: c.get_object_tagging(
                Bucket="photos", Key="a/b"
            ),
            "upload part": lambda: c.upload_part(
                Bucket="photos",
                Key=KEY_ODD,
                UploadId="u/1+2=3",
                PartNumber=7,
                Body=b"part",
            ),
            "create multipart upload": lambda: c.create_multipart_upload(
                Bucket="photos", Key="big.bin", ContentType="application/x-big"
            ),
            "get object with overrides": lambda: c.get_object(
                Bucket="photos",
                Key="p.jpg",
                ResponseContentType="text/x; y=z",
                ResponseContentDisposition='attachment; filename="a b.txt"',
            ),
            "get object version": lambda: c.get_object(
                Bucket="photos", Key="p.jpg", VersionId="3/L4kqtJl+cd"
            ),
            "list objects v2": lambda: c.list_objects_v2(
                Bucket="photos", Prefix="a b/", Delimiter="/"
            ),
            "get bucket acl": lambda: c.get_bucket_acl(Bucket="photos"),
            "delete objects": lambda: c.delete_objects(
                Bucket="photos", Delete={"Objects": [{"Key": "a"}, {"Key": "b c"}]}
            ),
            "list buckets": lambda: c.list_buckets(),
        }
        for name, call in header_calls.items():
            case = capture(c, call)
            case["name"] = f"header {style} {name}"
            cases.append(case)

        q = make_client(session, "s3-query", style)
        presigns = {
            "get odd key": ("get_object", {"Bucket": "photos", "Key": KEY_ODD}),
            "get with response overrides": (
                "get_object",
                {
                    "Bucket": "photos",
                    "Key": "p.jpg",
                    "ResponseContentType": "text/x; y=z",
                    "ResponseCacheControl": "no-cache",
                },
            ),
            "put with content type and metadata": (
                "put_object",
                {
                    "Bucket": "photos",
                    "Key": "up load.txt",
                    "ContentType": "text/plain",
                    "Metadata": {"k": "v"},
                },
            ),
            "get tagging": ("get_object_tagging", {"Bucket": "photos", "Key": "t"}),
            "upload part": (
                "upload_part",
                {"Bucket": "photos", "Key": "k", "UploadId": "abc+/=", "PartNumber": 2},
            ),
            "head unicode key": ("head_object", {"Bucket": "photos", "Key": "\u65e5\u672c/\u00e9"}),
        }
        for name, (op, params) in presigns.items():
            url = q.generate_presigned_url(op, Params=params, ExpiresIn=900)
            method = {"put_object": "PUT", "upload_part": "PUT", "head_object": "HEAD"}.get(op, "GET")
            cases.append(
                {
                    "name": f"presign {style} {name}",
                    "method": method,
                    "url": url,
                    "headers": [],
                    "body": "",
                }
            )

    json.dump({"now": NOW, "cases": cases}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
