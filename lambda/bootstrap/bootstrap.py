# Sluice's Python runtime: runs handlers written for AWS Lambda's managed
# Python runtime against the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API),
# using only the standard library.
import decimal
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

RUNTIME_API = os.environ["AWS_LAMBDA_RUNTIME_API"]
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
PREFIX = "/2018-06-01/runtime"

_request_id = None


class _Client:
    """One keep-alive HTTP connection to the Runtime API."""

    def __init__(self, address):
        self.address = address
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.address)
            try:
                self.conn.request(method, PREFIX + path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise


class FaultException(Exception):
    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace or []


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self):
        self.cognito_identity_id = None
        self.cognito_identity_pool_id = None


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    __slots__ = ["custom", "env", "client"]


def _obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field))
    return obj


class LambdaContext:
    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, cognito_identity):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = CognitoIdentity()
        if cognito_identity:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return int(max(self._deadline_ms - int(round(time.time() * 1000)), 0))

    def log(self, msg):
        sys.stdout.write(str(msg))
        sys.stdout.flush()

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={},log_group_name={},log_stream_name={},function_name={},"
            "memory_limit_in_mb={},function_version={},invoked_function_arn={},client_context={},identity={}])"
        ).format(
            self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
            self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
            self.client_context, self.identity,
        )


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


class _LambdaLoggerHandler(logging.StreamHandler):
    def __init__(self):
        super().__init__(sys.stdout)
        fmt = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
        fmt.converter = time.gmtime
        self.setFormatter(fmt)
        self.addFilter(_RequestIdFilter())
        self.terminator = ""


def _setup_logging():
    root = logging.getLogger()
    root.addHandler(_LambdaLoggerHandler())
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        root.setLevel(level.upper())


def _user_frames(tb):
    frames = traceback.extract_tb(tb)
    return [f for f in frames if os.path.abspath(f.filename) != os.path.abspath(__file__)]


def _error_result(exc, request_id):
    etype = type(exc)
    return {
        "errorMessage": str(exc) if str(exc) else "",
        "errorType": etype.__name__,
        "requestId": request_id or "",
        "stackTrace": traceback.format_list(_user_frames(exc.__traceback__)),
    }


def _fault_result(fault):
    return {
        "errorMessage": fault.msg,
        "errorType": fault.exception_type,
        "requestId": "",
        "stackTrace": fault.trace,
    }


def _log_error(result):
    msg = "[ERROR] " + result["errorType"]
    if result["errorMessage"]:
        msg += ": " + result["errorMessage"]
    lines = [msg]
    trace = result.get("stackTrace") or []
    if trace:
        lines.append("Traceback (most recent call last):")
        lines.append("".join(trace).rstrip("\n"))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(handler, str(e)))
    modname = modname.replace("/", ".")
    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultException(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module {} as a handler module".format(modname),
        )
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise FaultException(
            "Runtime.ImportModuleError", "Unable to import module '{}': {}".format(modname, str(e))
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            "Runtime.UserCodeSyntaxError", "Syntax error in module '{}': {}".format(modname, str(e)), trace
        )
    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultException(
            "Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(fname, modname)
        )


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return None
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _to_json(obj):
    return json.dumps(obj, cls=_Encoder).encode("utf-8")


def _post_error(client, path, result, error_type):
    body = json.dumps(result).encode("utf-8")
    client.request(
        "POST", path, body,
        {"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": error_type},
    )


def main():
    global _request_id
    if TASK_ROOT not in sys.path:
        sys.path.insert(0, TASK_ROOT)
    _setup_logging()
    client = _Client(RUNTIME_API)

    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except FaultException as fault:
        result = _fault_result(fault)
        _log_error(result)
        _post_error(client, "/init/error", result, fault.exception_type)
        sys.exit(1)
    except Exception as e:
        result = _error_result(e, None)
        _log_error(result)
        _post_error(client, "/init/error", result, result["errorType"])
        sys.exit(1)

    while True:
        status, headers, body = client.request("GET", "/invocation/next")
        if status != 200:
            sys.exit(1)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        _request_id = request_id
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            client_context = headers.get("Lambda-Runtime-Client-Context")
            cognito = headers.get("Lambda-Runtime-Cognito-Identity")
            context = LambdaContext(
                request_id,
                int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
                headers.get("Lambda-Runtime-Invoked-Function-Arn"),
                json.loads(client_context) if client_context else None,
                json.loads(cognito) if cognito else None,
            )
            try:
                event = json.loads(body) if body else {}
            except ValueError as e:
                raise FaultException("Runtime.UnmarshalError", "Unable to unmarshal input: {}".format(str(e)))
            response = handler(event, context)
            try:
                payload = _to_json(response)
            except (TypeError, ValueError) as e:
                raise FaultException("Runtime.MarshalError", "Unable to marshal response: {}".format(str(e)))
        except FaultException as fault:
            result = _fault_result(fault)
            result["requestId"] = request_id
            _log_error(result)
            _post_error(client, "/invocation/" + request_id + "/error", result, fault.exception_type)
            continue
        except Exception as e:
            result = _error_result(e, request_id)
            _log_error(result)
            _post_error(client, "/invocation/" + request_id + "/error", result, result["errorType"])
            continue
        client.request(
            "POST", "/invocation/" + request_id + "/response", payload, {"Content-Type": "application/json"}
        )


if __name__ == "__main__":
    main()
