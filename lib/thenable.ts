/**
 * True for a promise or anything else with a `then` method (Promises/A+: objects and functions).
 * @throws whatever reading `value.then` throws: that read runs the value's own code (a getter, a
 * Proxy trap, a revoked Proxy). Call it inside the same `try` as the code that produced the
 * value, so the throw fails that call rather than escaping to the event loop. Swallowing it here
 * would not help: `await` and `Promise.resolve()` read `then` again and reject with it.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
