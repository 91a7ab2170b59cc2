// Callback-style handlers.
exports.handler = (event, context, callback) => {
  if (event.noWait) context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log("timer fired after callback"), 30);
  if (event.fail) return callback(new RangeError("callback failure"));
  callback(null, { style: "callback", requestId: context.awsRequestId });
};

exports.legacy = (event, context) => {
  context.succeed({ style: "succeed" });
};
