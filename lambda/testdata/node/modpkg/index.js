export async function handler(event, context) {
  return { typeModule: true, fn: context.functionName };
}
