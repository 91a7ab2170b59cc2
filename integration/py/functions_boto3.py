"""Lambda through boto3 against a running Sluice (functions_test.go).

$GO_ZIP and $PY_ZIP are the zipped test handlers (testdata/functions);
$GATE_DIR is a directory the handlers and this script share for gate files.
"""

import base64
import json
import os
import secrets
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from common import ACCESS_KEY, ENDPOINT, REGION, SECRET_KEY, S3TestCase, bucket_name, client

ROLE = "arn:aws:iam::000000000000:role/integration"
GATE_DIR = os.environ["GATE_DIR"]


def lambda_client(**config):
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=120,
                 max_pool_connections=64, **config)
    return boto3.client("lambda", endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=cfg)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def poll(fn, timeout=30):
    """Calls fn until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class Functions(S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lam = lambda_client()
        cls.s3 = client()
        cls.go = "b3-go-" + secrets.token_hex(4)
        cls.py = "b3-py-" + secrets.token_hex(4)
        cls.lam.create_function(FunctionName=cls.go, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                                Code={"ZipFile": read(os.environ["GO_ZIP"])}, Timeout=10, MemorySize=128)
        cls.lam.create_function(FunctionName=cls.py, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": read(os.environ["PY_ZIP"])}, Timeout=10)

    def test_log_tail(self):
        marker = "b3-" + secrets.token_hex(4)
        resp = self.lam.invoke(FunctionName=self.py, Payload=json.dumps({"print": marker}), LogType="Tail")
        self.assertEqual(resp["StatusCode"], 200)
        self.assertNotIn("FunctionError", resp)
        body = json.loads(resp["Payload"].read())
        log = base64.b64decode(resp["LogResult"]).decode()
        rid = body["request_id"]
        for want in ("START RequestId: " + rid, "END RequestId: " + rid, "REPORT RequestId: " + rid,
                     "stdout " + marker, "stderr " + marker, "Max Memory Used: "):
            self.assertIn(want, log)
        self.assertEqual(resp["ExecutedVersion"], "$LATEST")

    def test_event_invocation(self):
        bucket = bucket_name("b3-async")
        self.s3.create_bucket(Bucket=bucket)
        key = "effect-" + secrets.token_hex(4)
        resp = self.lam.invoke(FunctionName=self.py, InvocationType="Event",
                               Payload=json.dumps({"mode": "s3put", "bucket": bucket, "key": key}))
        self.assertEqual(resp["StatusCode"], 202)
        self.assertEqual(resp["Payload"].read(), b"")

        def effect():
            try:
                return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except ClientError as e:
                if e.response["Error"]["Code"] != "NoSuchKey":
                    raise
                return None

        doc = poll(effect)
        self.assertIsNotNone(doc, "the asynchronous invocation never wrote %s/%s" % (bucket, key))
        self.assertTrue(doc["request_id"])

    def test_dry_run(self):
        resp = self.lam.invoke(FunctionName=self.go, InvocationType="DryRun", Payload=b"{}")
        self.assertEqual(resp["StatusCode"], 204)

    def test_fifty_parallel(self):
        # Fifty instances may run at once: nothing is throttled, so any
        # failure is the host's.
        name = "b3-par-" + secrets.token_hex(4)
        self.lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                                 Code={"ZipFile": read(os.environ["GO_ZIP"])}, Timeout=30)
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=50)
        barrier = threading.Barrier(50)

        def call(i):
            barrier.wait()
            resp = self.lam.invoke(FunctionName=name, Payload=json.dumps({"n": i}))
            body = json.loads(resp["Payload"].read())
            return resp["StatusCode"], resp.get("FunctionError"), body, resp["ResponseMetadata"]["RequestId"]

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(call, range(50)))
        ids = set()
        for i, (status, ferr, body, header_id) in enumerate(results):
            self.assertEqual((status, ferr), (200, None), body)
            self.assertEqual(body["event"], {"n": i})
            self.assertEqual(body["function_name"], name)
            self.assertEqual(body["request_id"], header_id, "x-amzn-RequestId is the invocation's request id")
            ids.add(body["request_id"])
        self.assertEqual(len(ids), 50, "request ids are not distinct")

    def test_payload_too_large(self):
        with self.assertRaises(ClientError) as cm:
            self.lam.invoke(FunctionName=self.go, Payload=b'{"x":"' + b"a" * (7 << 20) + b'"}')
        err = cm.exception.response
        self.assertEqual((err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]),
                         ("RequestEntityTooLargeException", 413), err)
        # The function is unaffected.
        resp = self.lam.invoke(FunctionName=self.go, Payload=b'{"after":"limit"}')
        self.assertEqual(json.loads(resp["Payload"].read())["event"], {"after": "limit"})

    def test_async_payload_limit(self):
        # Asynchronous payloads stop at 1 MB.
        with self.assertRaises(ClientError) as cm:
            self.lam.invoke(FunctionName=self.go, InvocationType="Event",
                            Payload=b'{"x":"' + b"a" * (2 << 20) + b'"}')
        err = cm.exception.response
        self.assertEqual((err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]),
                         ("RequestEntityTooLargeException", 413), err)

    def test_too_many_requests(self):
        name = "b3-slow-" + secrets.token_hex(4)
        self.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": read(os.environ["PY_ZIP"])}, Timeout=60)
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        got = self.lam.get_function_concurrency(FunctionName=name)
        self.assertEqual(got.get("ReservedConcurrentExecutions"), 1)
        entered = os.path.join(GATE_DIR, name + ".entered")
        release = os.path.join(GATE_DIR, name + ".release")
        event = json.dumps({"mode": "gate", "entered": entered, "release": release})
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(self.lam.invoke, FunctionName=name, Payload=event)
            try:
                # The first invocation holds the only slot until released.
                self.assertTrue(poll(lambda: os.path.exists(entered) or first.done()),
                                "the first invocation never started")
                self.assertFalse(first.done(), first.result() if first.done() else None)
                with self.assertRaises(ClientError) as cm:
                    self.lam.invoke(FunctionName=name, Payload=event)
                err = cm.exception.response
                self.assertEqual((err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]),
                                 ("TooManyRequestsException", 429), err)
                self.assertEqual(err.get("Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded", err)
            finally:
                open(release, "w").close()
            resp = first.result(timeout=60)
        self.assertEqual(resp["StatusCode"], 200)
        self.assertNotIn("FunctionError", resp)
        self.assertEqual(json.loads(resp["Payload"].read()), {"released": True})

    def test_init_errors(self):
        # Errors before the handler runs are shaped as the official runtimes shape them.
        cases = [
            ("python3.12", "missing_module.handler", os.environ["PY_ZIP"], "Runtime.ImportModuleError"),
            ("python3.12", "app.no_such_function", os.environ["PY_ZIP"], "Runtime.HandlerNotFound"),
            ("nodejs20.x", "index.no_such_function", os.environ["NODE_ZIP"], "Runtime.HandlerNotFound"),
            ("nodejs20.x", "missing_module.handler", os.environ["NODE_ZIP"], "Runtime.ImportModuleError"),
        ]
        for runtime, handler, zip_path, want in cases:
            with self.subTest(runtime=runtime, handler=handler):
                name = "b3-init-" + secrets.token_hex(4)
                self.lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                                         Code={"ZipFile": read(zip_path)}, Timeout=10)
                resp = self.lam.invoke(FunctionName=name, Payload=b"{}")
                self.assertEqual((resp["StatusCode"], resp.get("FunctionError")), (200, "Unhandled"))
                doc = json.loads(resp["Payload"].read())
                self.assertEqual(doc.get("errorType"), want, doc)
                self.assertTrue(doc.get("errorMessage"), doc)

    def test_client_context(self):
        # Node hands the decoded Client-Context to the handler as context.clientContext.
        ctx = {"custom": {"tenant": "t-1"}, "env": {"locale": "en"}}
        encoded = base64.b64encode(json.dumps(ctx).encode()).decode()
        name = "b3-ctx-" + secrets.token_hex(4)
        self.lam.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                                 Code={"ZipFile": read(os.environ["NODE_ZIP"])}, Timeout=10)
        resp = self.lam.invoke(FunctionName=name, Payload=b'{"mode":"echo"}', ClientContext=encoded)
        body = json.loads(resp["Payload"].read())
        self.assertEqual(body.get("client_context", {}).get("custom"), ctx["custom"], body)

    def test_errors(self):
        missing = "b3-missing-" + secrets.token_hex(4)
        with self.assertRaises(ClientError) as cm:
            self.lam.invoke(FunctionName=missing, Payload=b"{}")
        err = cm.exception.response
        self.assertEqual((err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]),
                         ("ResourceNotFoundException", 404), err)
        self.assertIn("Function not found", err["Error"]["Message"])
        with self.assertRaises(ClientError) as cm:
            self.lam.invoke(FunctionName=self.go, Qualifier="7", Payload=b"{}")
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        with self.assertRaises(ClientError) as cm:
            self.lam.invoke(FunctionName=self.go, Payload=b"not json")
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidRequestContentException")


if __name__ == "__main__":
    unittest.main()
