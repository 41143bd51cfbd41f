/**
 * A handler's or task's result as a promise when it is a thenable (a promise, or any object or
 * function with a `then` method, as Promises/A+ says), else undefined for a plain value.
 * @throws whatever the value's own code throws when read: its `then` getter, a promise's
 * `constructor` getter (read by `Promise.resolve`), a Proxy trap, a revoked Proxy. Call it inside
 * the same `try` as the code that produced the value, so the throw fails that call rather than
 * escaping to the event loop. A `then()` that throws when called rejects the promise instead.
 */
export function promiseOf(value: unknown): Promise<unknown> | undefined {
  const thenable = (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  return thenable ? Promise.resolve(value) : undefined
}
