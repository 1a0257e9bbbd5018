// Waiting for a promise logic returned. Such a promise may carry its own
// `then` (a property, a getter that throws, one that returns a Proxy or
// another such promise), or a constructor whose Symbol.species makes the
// promise that Promise.prototype.then returns. The host registers on it with
// the intrinsic then (taken when this module loads), so it hears the
// promise's real outcome and never its own `then`; it ignores what that then
// returns (logic's species may have made it), and catches what the species
// throws; and it waits on a promise of its own, settled with the outcome in a
// box. A value that gained a `then` after its promise was fulfilled is
// refused: whatever the host resolves with it next would adopt it.

const IntrinsicPromise = Promise;
const intrinsicThen = Promise.prototype.then;

const THENABLE = 'the promise fulfilled with a value that has a then of its own (set after it was fulfilled): a result is plain data';

/**
 * Whether a promise's value carries a callable `then`: a native promise adopts such a value when it
 * is resolved, so one is only there when logic added it after; passed on, the host's next
 * resolution would adopt it and run logic's then in the host's own job.
 */
function hasOwnThen(value: unknown): boolean {
  return (typeof value === 'object' && value !== null) || typeof value === 'function' ? typeof (value as { then?: unknown }).then === 'function' : false;
}

/** Fulfils the host's promise with `value` in a box, or rejects it (a value that gained a then, or whose then getter throws). */
function settleWith<T>(value: T, resolve: (box: { value: T }) => void, reject: (err: unknown) => void): void {
  try {
    if (hasOwnThen(value)) reject(new TypeError(THENABLE));
    else resolve({ value });
  } catch (err) {
    reject(err);
  }
}

/** `promise.then(onValue, onError)` on a promise of the host's own, settled as `promise` settles, whatever `promise` carries. */
export function whenSettled<T, R>(promise: Promise<T>, onValue: (value: T) => R | PromiseLike<R>, onError: (err: unknown) => R | PromiseLike<R>): Promise<R> {
  const own = new IntrinsicPromise<{ value: T }>((resolve, reject) => {
    try {
      intrinsicThen.call(promise, (value: T) => settleWith(value, resolve, reject), reject);
    } catch (err) {
      // The promise's constructor or its species threw.
      reject(err);
    }
  });
  return intrinsicThen.call(own, (box: { value: T }) => onValue(box.value), onError) as Promise<R>;
}
