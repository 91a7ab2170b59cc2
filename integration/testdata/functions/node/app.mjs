// ES module Node handler of the functions end-to-end tests (.mjs): echo,
// error and printing, like index.js, through an ESM import.
import { setTimeout as sleep } from 'node:timers/promises';

export const handler = async (event, context) => {
  if (event.print) {
    console.log('stdout ' + event.print);
    console.error('stderr ' + event.print);
  }
  if (event.mode === 'error') {
    throw new SyntaxError('boom ' + (event.print || ''));
  }
  await sleep(1);
  return {
    runtime: 'node-esm',
    event,
    function_name: context.functionName,
    memory_limit: Number(context.memoryLimitInMB),
    version: context.functionVersion,
    request_id: context.awsRequestId,
    invoked_arn: context.invokedFunctionArn,
    remaining_ms: context.getRemainingTimeInMillis(),
    log_group: context.logGroupName,
    log_stream: context.logStreamName,
  };
};
