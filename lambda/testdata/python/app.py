# Test handler for the Python runtime: the event's "action" picks what it does.
import logging
import os
import sys
import time

logger = logging.getLogger()
print("app module loaded")


def handler(event, context):
    for line in event.get("stdout", []):
        print(line)
    for line in event.get("stderr", []):
        print(line, file=sys.stderr)
    action = event.get("action")
    if action == "error":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(event.get("seconds", 1))
    if action == "crash":
        os._exit(1)
    if action == "big":
        return "x" * event["size"]
    if action == "log":
        logger.warning("warned %s", "here")
    if action == "s3":
        import boto3

        s3 = boto3.client("s3")
        s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
        return {"written": event["key"]}
    return {
        "event": event,
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": context.client_context.custom if context.client_context else None,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "env": {k: os.environ.get(k) for k in ("AWS_EXECUTION_ENV", "AWS_ENDPOINT_URL", "_HANDLER", "TZ", "LAMBDA_TASK_ROOT")},
        "python": "%d.%d" % sys.version_info[:2],
        "cwd": os.getcwd(),
    }
