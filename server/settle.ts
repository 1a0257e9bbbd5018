// Waiting for a promise logic returned. A Promise may carry its own `then`
// (a property, a getter that throws, one that returns a Proxy or another
// such promise); calling `result.then(...)` runs it, outside any try of the
// caller's. The host waits through the intrinsic Promise.prototype.then,
// taken when this module loads, which never reads the value's own: it gets
// the promise's real outcome, and what comes back is a promise of its own.

const intrinsicThen = Promise.prototype.then;

/** `promise.then(onValue, onError)` with the intrinsic `then`, whatever `promise` carries. */
export function whenSettled<T, R>(promise: Promise<T>, onValue: (value: T) => R | PromiseLike<R>, onError: (err: unknown) => R | PromiseLike<R>): Promise<R> {
  return intrinsicThen.call(promise, onValue, onError) as Promise<R>;
}
