import { errorMonitor } from 'node:events';
import { inspect } from 'node:util';
import { rebindError } from '../errors.ts';
import { currentAttempt } from '../store/transaction.ts';

// A listener on `process` runs when the event comes, in the context of whoever emits it, not of
// the code that added it. So a module version's listeners are its own (OwnedListeners): removed
// when the version is replaced or refused, so that its code never runs again through an event.
// One added during a patch attempt also does nothing once that attempt is refused: it may belong
// to a live version that the attempt called into, which the refusal does not remove.
//
// The same ownership decides what the version may see and touch: the server's own listeners on
// `process` (its SIGTERM shutdown, its unhandledRejection guard) are not logic's to read, remove or
// call. Logic that looped over process.listeners('SIGTERM') calling off() on each, or that called
// process.emit('SIGTERM'), ended the server without its last snapshot.

const realProcess = process;

type Listener = (...args: unknown[]) => void;
/** Each adder, and the one that adds for good (a once() is a listener that removes itself). */
const LISTENER_ADDERS = { on: 'on', addListener: 'addListener', prependListener: 'prependListener', once: 'on', prependOnceListener: 'prependListener' } as const;
/** What a version registered in place of `listener` (the function it passed); `once` for a once(). */
export type Wrapped = Listener & { listener?: unknown; once?: boolean; direct?: (args: unknown[]) => void };

/** Every listener that logic added on `process`, of any version: all that logic's process.emit reaches. */
const addedByLogic = new WeakSet<object>();

/**
 * The listeners one module version added on `process` (and its other tracked subscriptions, such as
 * diagnostics channels: logic-channels.ts), removed all at once when the version stops. Each is kept
 * with where it was added (`source`, `event`) and how to take it off again.
 */
export class OwnedListeners {
  private readonly added = new Map<Wrapped, { source: object; event: string | symbol; remove: () => void }>();
  private closed = false;

  /** `onError`: a listener of the version threw (reported, as a throwing timer is: the server goes on). */
  constructor(readonly onError: (err: unknown) => void = () => undefined) {}

  /** False once the version has stopped: a late add (from a call still running on it) adds nothing. */
  own(source: object, event: string | symbol, wrapped: Wrapped, remove: () => void): boolean {
    if (this.closed) return false;
    this.added.set(wrapped, { source, event, remove });
    return true;
  }

  forget(wrapped: Wrapped): void {
    this.added.delete(wrapped);
  }

  /** Whether `fn` is one of its own on `source` for `event`. */
  has(source: object, event: string | symbol, fn: unknown): fn is Wrapped {
    const at = this.added.get(fn as Wrapped);
    return at !== undefined && at.source === source && at.event === event;
  }

  /** The most recent of its own on `source` for `event` that is `listener` or wraps it (which process.off removes). */
  find(source: object, event: string | symbol, listener: unknown): Wrapped | undefined {
    let found: Wrapped | undefined;
    for (const [wrapped, at] of this.added) if (at.source === source && at.event === event && (wrapped.listener === listener || wrapped === listener)) found = wrapped;
    return found;
  }

  /** Removes its listeners on `source` for `event` (every one of them if neither is named; `event` undefined itself with `exactly`); returns how many there were. */
  removeAll(source?: object, event?: string | symbol, exactly = false): number {
    let n = 0;
    for (const [wrapped, at] of this.added) {
      if ((source !== undefined && at.source !== source) || ((exactly || event !== undefined) && at.event !== event)) continue;
      at.remove();
      this.added.delete(wrapped);
      n++;
    }
    return n;
  }

  /** Removes every listener it still has and refuses new ones (its version has stopped); returns how many there were. */
  close(): number {
    this.closed = true;
    return this.removeAll();
  }
}

/** How a listener is wrapped (attemptBound). */
export interface BindOptions {
  /** Runs first at each event (a once() removes itself here). */
  before?: (wrapped: Wrapped) => void;
  /** `this` for the listener, whatever the emitter passes: a version's listener on `process` gets the version's own `process`. */
  self?: () => unknown;
  /** What runs in its place (a filter in front of it); `listener` still names it for off() and unsubscribe(). */
  runs?: Listener;
  /** A once(): it runs at most once, also when the event is emitted again from inside a listener of the same emit. */
  once?: boolean;
}

/**
 * `listener` wrapped so that it does nothing once the patch attempt adding it now (if any) is refused,
 * and so that its throw goes to `onError`: Node rethrows a throwing listener on `process` or a
 * diagnostics channel as an uncaught exception, which would end the server. `wrapped.direct` runs it
 * the same way but lets a throw out, for logic's own process.emit (whose caller gets the throw, as
 * from Node's emit).
 */
export function attemptBound(listener: Listener, onError: (err: unknown) => void, options: BindOptions = {}): Wrapped {
  const attempt = currentAttempt();
  const { before, self, runs = listener, once } = options;
  let fired = false;
  const direct = (that: unknown, args: unknown[]): void => {
    if (once) {
      if (fired) return;
      fired = true;
    }
    before?.(wrapped);
    if (attempt?.refused) return;
    Reflect.apply(runs, self ? self() : that, args);
  };
  const wrapped: Wrapped = function (this: unknown, ...args: unknown[]): void {
    try {
      direct(this, args);
    } catch (err) {
      onError(err);
    }
  };
  // process.off(event, listener) and unsubscribe(name, listener) find it by this.
  wrapped.listener = listener;
  if (once) wrapped.once = true;
  wrapped.direct = (args) => direct(undefined, args);
  return wrapped;
}

/** Node's answer to emit('error') with no listener: the error is thrown at the emitter. */
function unhandledError(arg: unknown): Error {
  if (arg instanceof Error) return arg;
  return Object.assign(new Error(`Unhandled error. (${inspect(arg)})`), { code: 'ERR_UNHANDLED_ERROR', context: arg });
}

/**
 * Events whose listeners would hear of every module's failures and the server's own, and change
 * what the process does with them: the server catches a throw or a rejection in logic and reports
 * it against its module, so logic has no need of them.
 */
const SERVER_FAILURES = new Set<string | symbol>(['uncaughtException', 'uncaughtExceptionMonitor', 'unhandledRejection']);

/** Events Node emits about the emitter's listeners, with a listener as their argument: a version hears only of its own. */
const ABOUT_LISTENERS = new Set<string | symbol>(['newListener', 'removeListener']);

/**
 * process's EventEmitter methods as a module version sees them: what it adds is its own, what it
 * removes, reads or counts is only its own, and what it emits reaches only listeners logic added.
 */
export function listenerMethods(owner: OwnedListeners, self: () => NodeJS.Process): Map<PropertyKey, unknown> {
  const own = (event: string | symbol): Wrapped[] => realProcess.rawListeners(event).filter((fn) => owner.has(realProcess, event, fn));
  const methods = new Map<PropertyKey, unknown>(
    Object.entries(LISTENER_ADDERS).map(([name, adds]) => [
      name,
      (event: string | symbol, listener: Listener) => {
        // Node's own ERR_INVALID_ARG_TYPE for a listener that is not a function.
        if (typeof listener !== 'function') return Reflect.apply(realProcess[name as keyof typeof LISTENER_ADDERS] as Listener, realProcess, [event, listener]);
        if (SERVER_FAILURES.has(event)) {
          throw rebindError('LOGIC_FORBIDDEN', `game logic may not listen for process '${String(event)}': it would hear every module's failures and the server's, and change what the server does with them; a throw or rejection in logic is already caught and logged against its module (catch it where it happens to handle it)`, { details: { what: `process.${name}('${String(event)}')` } });
        }
        const once = adds !== name;
        const wrapped = attemptBound(listener, owner.onError, {
          self,
          once,
          before: once
            ? (wrapped) => {
                realProcess.removeListener(event, wrapped);
                owner.forget(wrapped);
              }
            : undefined,
          // Node hands these the listener added or removed: the server's or another module's would let
          // this version call or re-add code that is not its own (a replaced version's, say).
          runs: ABOUT_LISTENERS.has(event)
            ? function (this: unknown, ...[about, fn]: unknown[]) {
                // Node hands on what it was given, which for a removal of ours is our wrapper: logic gets its own function.
                const named = typeof fn === 'function' && addedByLogic.has(fn) ? (fn as Wrapped).listener : fn;
                if (owner.find(realProcess, about as string | symbol, named)) Reflect.apply(listener, this, [about, named]);
              }
            : undefined,
        });
        addedByLogic.add(wrapped);
        if (owner.own(realProcess, event, wrapped, () => realProcess.removeListener(event, wrapped))) Reflect.apply(realProcess[adds] as Listener, realProcess, [event, wrapped]);
        return self();
      },
    ]),
  );
  // A function that is not one of the version's own is not there for it: a no-op, as Node's off() is
  // for a listener it does not have.
  for (const name of ['off', 'removeListener']) {
    methods.set(name, (event: string | symbol, listener: Listener) => {
      if (typeof listener !== 'function') return realProcess.removeListener(event, listener);
      const wrapped = owner.find(realProcess, event, listener);
      if (wrapped) {
        // Removed while still its own, so that its 'removeListener' listener hears of it.
        realProcess.removeListener(event, wrapped);
        owner.forget(wrapped);
      }
      return self();
    });
  }
  // A module's dispose tidying up with removeAllListeners('SIGTERM') must not take the host's
  // shutdown (or its unhandledRejection guard, or other modules' listeners) with its own.
  // With no argument every event's; with one (even undefined, as Node reads it) that event's.
  methods.set('removeAllListeners', (...event: Array<string | symbol>) => {
    if (event.length === 0) owner.removeAll(realProcess);
    else owner.removeAll(realProcess, event[0], true);
    return self();
  });
  // As Node reports them: listeners() gives the functions passed (a once() unwrapped), rawListeners()
  // a once()'s wrapper (with `.listener`) and the others as passed.
  methods.set('listeners', (event: string | symbol) => own(event).map((wrapped) => wrapped.listener));
  methods.set('rawListeners', (event: string | symbol) => own(event).map((wrapped) => (wrapped.once ? wrapped : wrapped.listener)));
  methods.set('listenerCount', (event: string | symbol, listener?: unknown) => own(event).filter((wrapped) => listener === undefined || wrapped === listener || wrapped.listener === listener).length);
  methods.set('eventNames', () => realProcess.eventNames().filter((event) => own(event).length > 0));
  // Two modules may talk through a custom event on process, so emit reaches every live version's
  // listeners; the host's never: an emitted SIGTERM, exit or uncaughtException would stop or confuse
  // the server. Returns whether a listener ran, as Node's emit does.
  methods.set('emit', (event: string | symbol, ...args: unknown[]) => {
    const ofLogic = (name: string | symbol) => realProcess.rawListeners(name).filter((fn): fn is Wrapped => addedByLogic.has(fn));
    // As Node does, an 'error' goes to errorMonitor listeners first, heard or not.
    if (event === 'error') for (const fn of ofLogic(errorMonitor)) fn.direct!(args);
    const reached = ofLogic(event);
    if (reached.length === 0) {
      if (event === 'error') throw unhandledError(args[0]);
      return false;
    }
    // Each with its own version's `process` as `this`; a throw goes to the emitter, as from Node's emit.
    for (const fn of reached) fn.direct!(args);
    return true;
  });
  return methods;
}
