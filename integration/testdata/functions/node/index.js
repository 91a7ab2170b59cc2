// CommonJS Node handler of the functions end-to-end tests. The event's "mode"
// picks what it does; every mode first prints the event's "print" marker to
// stdout and stderr.
'use strict';

function echo(event, context, runtime) {
  return {
    runtime,
    event,
    function_name: context.functionName,
    memory_limit: Number(context.memoryLimitInMB),
    version: context.functionVersion,
    request_id: context.awsRequestId,
    invoked_arn: context.invokedFunctionArn,
    remaining_ms: context.getRemainingTimeInMillis(),
    log_group: context.logGroupName,
    log_stream: context.logStreamName,
    client_context: context.clientContext,
  };
}

exports.handler = async (event, context) => {
  const mode = event.mode || 'echo';
  if (event.print) {
    console.log('stdout ' + event.print);
    console.error('stderr ' + event.print);
  }
  switch (mode) {
    case 'error':
      throw new TypeError('boom ' + (event.print || ''));
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, (event.seconds || 1) * 1000));
      return { slept: event.seconds || 1 };
    case 'crash':
      process.exit(1);
      break;
    case 'oversize':
      return 'x'.repeat(7 << 20);
  }
  return echo(event, context, 'node');
};

// callback is the pre-async handler style, still supported by the runtime.
exports.callback = (event, context, callback) => {
  if (event.print) {
    console.log('stdout ' + event.print);
    console.error('stderr ' + event.print);
  }
  if (event.mode === 'error') {
    callback(new RangeError('callback boom'));
    return;
  }
  setImmediate(() => callback(null, echo(event, context, 'node-callback')));
};
