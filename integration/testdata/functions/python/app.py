"""Python handler of the functions end-to-end tests.

The event's "mode" picks what it does; every mode first prints the event's
"print" marker to stdout and stderr. S3 calls use boto3 with no endpoint
and no keys: Sluice hands the function AWS_ENDPOINT_URL and credentials.
"""

import json
import os
import subprocess
import sys
import time


def _s3():
    # Imported on first use: most modes need no SDK, and a cold start that
    # skips it stays quick on a loaded machine.
    import boto3

    return boto3.client("s3")


def _echo(event, context):
    return {
        "runtime": "python",
        "event": event,
        "function_name": context.function_name,
        "memory_limit": int(context.memory_limit_in_mb),
        "version": context.function_version,
        "request_id": context.aws_request_id,
        "invoked_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
    }


def _wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.02)


def handler(event, context):
    mode = event.get("mode", "echo")
    marker = event.get("print")
    if marker:
        print("stdout " + marker)
        print("stderr " + marker, file=sys.stderr)
    if mode == "error":
        raise ValueError("boom " + (marker or ""))
    if mode == "sleep":
        time.sleep(float(event.get("seconds", 1)))
        return {"slept": event.get("seconds", 1)}
    if mode == "crash":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    if mode == "oversize":
        return "x" * (7 << 20)
    if mode == "s3put":
        # Optionally announce the start and hold the effect back until the
        # test releases it, so that an asynchronous event is seen running
        # when the test interrupts Sluice and cannot finish before that.
        if event.get("entered_dir"):
            open(os.path.join(event["entered_dir"], event["key"]), "w").close()
        if event.get("release"):
            _wait_for(event["release"])
        time.sleep(float(event.get("seconds", 0)))
        _s3().put_object(Bucket=event["bucket"], Key=event["key"],
                         Body=json.dumps({"request_id": context.aws_request_id}).encode())
        return {"wrote": event["key"]}
    if mode == "gate":
        # Announce that the invocation is running, then hold it until the
        # test creates the release file (which it may never do).
        if event.get("spawn"):
            subprocess.Popen(["sleep", "300"])
        with open(event["entered"], "w") as f:
            f.write(context.aws_request_id)
        _wait_for(event["release"])
        return {"released": True}
    if mode == "fail-until-flag":
        # Fails until the flag object exists, then records that it ran.
        try:
            _s3().head_object(Bucket=event["bucket"], Key=event["flag"])
        except Exception:
            raise RuntimeError("flag %s not set yet" % event["flag"])
        _s3().put_object(Bucket=event["bucket"], Key=event["key"], Body=b"done")
        return {"wrote": event["key"]}
    return _echo(event, context)
