export const handler = async (event) => ({ esm: true, got: event });
export const deep = { inner: { handler: async () => "deeply nested" } };
