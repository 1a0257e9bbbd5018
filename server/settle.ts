// Waiting for a promise logic returned. Such a promise may carry its own
// `then` (a property, a getter that throws, one that returns a Proxy or
// another such promise), or a constructor whose Symbol.species makes the
// promise that Promise.prototype.then returns. The host registers on it with
// the intrinsic then (taken when this module loads), so it hears the
// promise's real outcome and never its own `then`; it ignores what that then
// returns (logic's species may have made it), and catches what the species
// throws; and it waits on a promise of its own, settled with the outcome in a
// box (a value with a `then` of its own is not adopted again).

const IntrinsicPromise = Promise;
const intrinsicThen = Promise.prototype.then;

/** `promise.then(onValue, onError)` on a promise of the host's own, settled as `promise` settles, whatever `promise` carries. */
export function whenSettled<T, R>(promise: Promise<T>, onValue: (value: T) => R | PromiseLike<R>, onError: (err: unknown) => R | PromiseLike<R>): Promise<R> {
  const own = new IntrinsicPromise<{ value: T }>((resolve, reject) => {
    try {
      intrinsicThen.call(promise, (value: T) => resolve({ value }), reject);
    } catch (err) {
      // The promise's constructor or its species threw.
      reject(err);
    }
  });
  return intrinsicThen.call(own, (box: { value: T }) => onValue(box.value), onError) as Promise<R>;
}
