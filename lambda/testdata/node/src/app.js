exports.handler = async () => ({ nested: true });
