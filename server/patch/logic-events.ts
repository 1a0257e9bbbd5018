import realEvents from 'node:events';
import { forbidden } from './logic-scope.ts';

// node:events as a module version sees it. What its once() and on() wait for
// is given up when the version stops, as its timers are (on()'s stream of
// events at once, as an interval; once() after the grace, as a timeout): a
// call awaiting an event that the replaced version's listener will never hear
// (its listeners are removed) ends with an AbortError instead of hanging for
// good. The module's server-wide defaults are read, not written.

/** The version's node:events; `stopped` aborts when it stops for good (after the grace), `replaced` as soon as it is replaced. */
export function eventsFor(stopped: AbortSignal, replaced: AbortSignal): typeof realEvents {
  type OnceOptions = Parameters<typeof realEvents.once>[2];
  type OnOptions = Parameters<typeof realEvents.on>[2];
  const once = (emitter: never, name: string | symbol, options?: unknown) => {
    const { options: linked, release } = linkStop(options, stopped);
    const settled = realEvents.once(emitter, name, linked as OnceOptions);
    return release ? settled.finally(release) : settled;
  };
  const on = (emitter: never, event: string | symbol, options?: unknown) => {
    const { options: linked, release } = linkStop(options, replaced);
    const events = realEvents.on(emitter, event, linked as OnOptions);
    return release ? releasedAtEnd(events, release) : events;
  };
  // setMaxListeners(n) with no emitter sets the default of every emitter the server makes from then on.
  const setMaxListeners = (n: number, ...targets: never[]) => (targets.length === 0 ? refuseShared('call events.setMaxListeners(n) without an emitter') : realEvents.setMaxListeners(n, ...targets));
  // The module is EventEmitter itself: a view of it, so that `class Bus extends EventEmitter` and `new EventEmitter()` are Node's;
  // its statics (defaultMaxListeners, captureRejections) are the server's too, so they are read, not written.
  const view: typeof realEvents = new Proxy(realEvents, {
    get(target, key) {
      if (key === 'once') return once;
      if (key === 'on') return on;
      if (key === 'setMaxListeners') return setMaxListeners;
      if (key === 'EventEmitter') return view;
      return Reflect.get(target, key, target);
    },
    set: (_target, key) => refuseShared(`set events.${String(key)}`),
    defineProperty: (_target, key) => refuseShared(`redefine events.${String(key)}`),
    deleteProperty: (_target, key) => refuseShared(`delete events.${String(key)}`),
  });
  return view;
}

/**
 * `options` with `stop` added to its signal, for node:events. With a signal of logic's own, a
 * controller aborted by either, whose two listeners `release` takes off once the wait is over
 * (AbortSignal.any kept every combined signal until `stop` fired: 2-4 KB a call for as long as
 * the version lived). Options Node would refuse go to Node as they are.
 */
function linkStop(options: unknown, stop: AbortSignal): { options: unknown; release?: () => void } {
  const signal = typeof options === 'object' && options !== null ? (options as { signal?: unknown }).signal : undefined;
  if (!(signal instanceof AbortSignal)) return { options: withStop(options, stop) };
  const linked = new AbortController();
  const fromSignal = () => linked.abort(signal.reason);
  const fromStop = () => linked.abort(stop.reason);
  if (signal.aborted) fromSignal();
  else if (stop.aborted) fromStop();
  signal.addEventListener('abort', fromSignal, { once: true });
  stop.addEventListener('abort', fromStop, { once: true });
  const release = () => {
    signal.removeEventListener('abort', fromSignal);
    stop.removeEventListener('abort', fromStop);
  };
  return { options: { ...(options as object), signal: linked.signal }, release };
}

/** `events` (an on() stream), calling `release` when it ends: done, returned from (a break) or thrown into. */
function releasedAtEnd<T>(events: AsyncIterableIterator<T>, release: () => void): AsyncIterableIterator<T> {
  return {
    next: (...args) =>
      events.next(...args).then(
        (result) => {
          if (result.done) release();
          return result;
        },
        (err: unknown) => {
          release();
          throw err;
        },
      ),
    return: (value?: unknown) => events.return!(value).finally(release),
    throw: (err?: unknown) => events.throw!(err).finally(release),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function refuseShared(what: string): never {
  return forbidden(what, "node:events is the server's and every module's (its defaults apply to every emitter they make)");
}

/**
 * `options` with `stop` added to its signal. Options Node would refuse (not an object, a signal
 * that is not one) go to Node as they are, so that the promise rejects with Node's own error, as it
 * would outside logic.
 */
export function withStop(options: unknown, stop: AbortSignal): unknown {
  if (options === undefined) return { signal: stop };
  if (typeof options !== 'object' || options === null) return options;
  const signal = (options as { signal?: unknown }).signal;
  if (signal === undefined) return { ...options, signal: stop };
  return signal instanceof AbortSignal ? { ...options, signal: AbortSignal.any([signal, stop]) } : options;
}

