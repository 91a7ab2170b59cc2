// Test handler for the Node.js runtime (CommonJS): the event's "action" picks what it does.
console.log("index module loaded");

exports.handler = async (event, context) => {
  for (const line of event.stdout || []) process.stdout.write(line + "\n");
  for (const line of event.stderr || []) process.stderr.write(line + "\n");
  switch (event.action) {
    case "error": {
      const err = new TypeError("boom");
      throw err;
    }
    case "sleep":
      await new Promise((r) => setTimeout(r, event.ms || 1000));
      break;
    case "crash":
      process.exit(1);
      break;
    case "big":
      return "x".repeat(event.size);
    case "log":
      console.log("hello %s", "console");
      break;
    case "throwLater":
      setTimeout(() => { throw new Error("later"); }, 1);
      await new Promise((r) => setTimeout(r, 1000));
      break;
  }
  return {
    event,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext || null,
    env: {
      AWS_EXECUTION_ENV: process.env.AWS_EXECUTION_ENV,
      _HANDLER: process.env._HANDLER,
      TZ: process.env.TZ,
    },
    node: process.versions.node,
  };
};

exports.notAFunction = 42;
