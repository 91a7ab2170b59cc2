// Sluice's Node.js runtime: runs handlers written for AWS Lambda's managed
// Node.js runtime against the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API).
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import util from "node:util";

const BOOTSTRAP = fileURLToPath(import.meta.url);
const [API_HOST, API_PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const PREFIX = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true });

let currentRequestId;
let currentInvocation; // { id, settle } while a handler runs

class ImportModuleError extends Error {}
ImportModuleError.prototype.name = "Runtime.ImportModuleError";
class HandlerNotFound extends Error {}
HandlerNotFound.prototype.name = "Runtime.HandlerNotFound";
class MalformedHandlerName extends Error {}
MalformedHandlerName.prototype.name = "Runtime.MalformedHandlerName";
class UserCodeSyntaxError extends Error {}
UserCodeSyntaxError.prototype.name = "Runtime.UserCodeSyntaxError";
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = "Runtime.UnhandledPromiseRejection";

// Console lines look as they do on Lambda: time, request id, level, message;
// a multi-line message stays one log event.
function patchConsole() {
  const write = (level) =>
    (...args) => {
      const msg = util.format(...args).replace(/\n/g, "\r");
      process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${msg}\n`);
    };
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = (...args) => {
    const err = new Error(util.format(...args));
    err.name = "Trace";
    write("TRACE")(err.stack);
  };
  console.fatal = write("FATAL");
}

function request(method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: API_HOST, port: API_PORT, path: PREFIX + p, method, agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) {
      req.setHeader("Content-Length", Buffer.byteLength(body));
      req.end(body);
    } else {
      req.end();
    }
  });
}

function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || error instanceof Error) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: String(error.stack || "").split("\n"),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: "handled",
      errorMessage:
        "callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack",
    };
  }
}

function postError(p, error, label) {
  const doc = toRapidResponse(error);
  const body = JSON.stringify(doc);
  console.error(label + body);
  return request("POST", p, body, {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": doc.errorType,
  });
}

function packageType(dir) {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(d, "package.json"), "utf8"));
      return pkg.type === "module" ? "module" : "commonjs";
    } catch {
      // keep looking upwards
    }
    if (d === path.dirname(d)) return "commonjs";
  }
}

async function importModule(file) {
  try {
    return await import(pathToFileURL(file).href);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(String(err));
    throw err;
  }
}

function requireModule(file) {
  try {
    return createRequire(BOOTSTRAP)(file);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(String(err));
    throw err;
  }
}

async function loadModule(root, moduleName) {
  const base = path.resolve(root, moduleName);
  const exists = (f) => {
    try {
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (exists(base + ".js")) {
    if (packageType(path.dirname(base)) === "module") return importModule(base + ".js");
    try {
      return requireModule(base + ".js");
    } catch (err) {
      if (err && err.code === "ERR_REQUIRE_ESM") return importModule(base + ".js");
      throw err;
    }
  }
  if (exists(base + ".mjs")) return importModule(base + ".mjs");
  if (exists(base + ".cjs")) return requireModule(base + ".cjs");
  // A bare module name may name a package in node_modules.
  try {
    return createRequire(path.join(root, "noop.js"))(moduleName);
  } catch (err) {
    if (err && err.code === "MODULE_NOT_FOUND") {
      throw new ImportModuleError(`Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${BOOTSTRAP}`);
    }
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(String(err));
    throw err;
  }
}

async function loadHandler(root, fullHandler) {
  const slash = fullHandler.lastIndexOf("/");
  const dir = fullHandler.slice(0, slash + 1);
  const rest = fullHandler.slice(slash + 1);
  const dot = rest.indexOf(".");
  if (dot < 1 || dot === rest.length - 1) throw new MalformedHandlerName("Bad handler");
  const moduleName = dir + rest.slice(0, dot);
  const handlerPath = rest.slice(dot + 1);
  const mod = await loadModule(root, moduleName);
  let fn = mod;
  for (const part of handlerPath.split(".")) {
    fn = fn == null ? undefined : fn[part];
  }
  if (fn === undefined && mod && mod.default && typeof mod.default === "object") {
    // A CommonJS module imported as ESM exposes module.exports as default.
    fn = mod.default;
    for (const part of handlerPath.split(".")) fn = fn == null ? undefined : fn[part];
  }
  if (fn === undefined || fn === null) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== "function") throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

function makeContext(headers, settle) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  const ctx = {
    callbackWaitsForEmptyEventLoop: true,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  if (headers["lambda-runtime-client-context"]) {
    ctx.clientContext = JSON.parse(headers["lambda-runtime-client-context"]);
  }
  if (headers["lambda-runtime-cognito-identity"]) {
    const id = JSON.parse(headers["lambda-runtime-cognito-identity"]);
    ctx.identity = { cognitoIdentityId: id.cognitoIdentityId, cognitoIdentityPoolId: id.cognitoIdentityPoolId };
  }
  ctx.succeed = (result) => settle(null, result);
  ctx.fail = (err) => settle(err == null ? "handled" : err);
  ctx.done = (err, result) => settle(err, result);
  return ctx;
}

// runHandler resolves with {err, result} once the handler answered: through
// its returned promise, or through the callback (after the event loop
// empties, unless callbackWaitsForEmptyEventLoop is false).
function runHandler(handler, event, headers) {
  return new Promise((resolve) => {
    let settled = false;
    let context;
    const settle = (err, result) => {
      if (settled) return;
      settled = true;
      const answer = () => resolve({ err, result });
      if (context.callbackWaitsForEmptyEventLoop) process.once("beforeExit", answer);
      else answer();
    };
    context = makeContext(headers, settle);
    currentInvocation = { settle: (err) => { if (!settled) { settled = true; resolve({ err }); } } };
    let ret;
    try {
      ret = handler(event, context, settle);
    } catch (err) {
      settled = true;
      resolve({ err });
      return;
    }
    if (ret && typeof ret.then === "function") {
      ret.then(
        (result) => {
          if (!settled) {
            settled = true;
            resolve({ result });
          }
        },
        (err) => {
          if (!settled) {
            settled = true;
            resolve({ err: err === undefined ? new Error("undefined") : err });
          }
        },
      );
    } else if (handler.length < 3) {
      // A synchronous handler that takes no callback answers null once the
      // event loop is empty.
      process.once("beforeExit", () => {
        if (!settled) {
          settled = true;
          resolve({ result: ret === undefined ? null : ret });
        }
      });
    }
  });
}

async function fatal(err, label) {
  try {
    if (currentInvocation && currentRequestId) {
      await postError(`/invocation/${currentRequestId}/error`, err, label);
    } else if (!currentRequestId) {
      await postError("/init/error", err, label);
    }
  } finally {
    process.exit(129);
  }
}

async function main() {
  patchConsole();
  process.on("uncaughtException", (err) => fatal(err, "Uncaught Exception \t"));
  process.on("unhandledRejection", (reason, promise) => {
    const err = new UnhandledPromiseRejection(
      reason && reason.stack ? reason.stack : String(reason),
      promise,
    );
    fatal(err, "Unhandled Promise Rejection \t");
  });

  let handler;
  try {
    handler = await loadHandler(TASK_ROOT, process.env._HANDLER || "");
  } catch (err) {
    await postError("/init/error", err, "Uncaught Exception \t");
    process.exit(129);
  }

  for (;;) {
    const next = await request("GET", "/invocation/next");
    if (next.status !== 200) process.exit(1);
    const h = next.headers;
    currentRequestId = h["lambda-runtime-aws-request-id"];
    if (h["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = h["lambda-runtime-trace-id"];
    else delete process.env._X_AMZN_TRACE_ID;
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
    } catch (err) {
      const e = new Error(`Unable to unmarshal input: ${err.message}`);
      e.name = "Runtime.UnmarshalError";
      await postError(`/invocation/${currentRequestId}/error`, e, "Invoke Error \t");
      continue;
    }
    const { err, result } = await runHandler(handler, event, h);
    currentInvocation = undefined;
    if (err !== null && err !== undefined) {
      await postError(`/invocation/${currentRequestId}/error`, err, "Invoke Error \t");
      continue;
    }
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      const me = new Error(`Unable to stringify response body: ${e.message}`);
      me.name = "Runtime.MarshalError";
      await postError(`/invocation/${currentRequestId}/error`, me, "Invoke Error \t");
      continue;
    }
    await request("POST", `/invocation/${currentRequestId}/response`, body, { "Content-Type": "application/json" });
  }
}

main();
