import { rebindError } from '../errors.ts';
import { hostClearImmediate, hostQueueMicrotask, hostSetImmediate } from '../host-globals.ts';
import { currentAttempt } from '../store/transaction.ts';

// What the free names `process`, `globalThis` and `global` mean inside game
// logic. Logic is trusted code and is not isolated, but a mistake in it must
// not stop the host: `process.exit()` would end the server without its last
// snapshot, and replacing `globalThis.setTimeout` would stop every timer the
// host starts later. So logic sees a `process` that refuses to end or change
// the process, and a global object it can read but not write. (Code that
// digs the real objects out on purpose still can; this guards against
// mistakes, not against malice.)

const realProcess = process;

function forbidden(what: string, why: string): never {
  throw rebindError('LOGIC_FORBIDDEN', `game logic may not ${what}: ${why}`, { details: { what } });
}

const EXIT = 'the server would stop without its last snapshot and drop every player; stop it with SIGTERM (Ctrl-C) or from the CLI';

function refuseExit(name: string): () => never {
  return () => forbidden(`call process.${name}()`, EXIT);
}

const processMethods = new Map<PropertyKey, unknown>([
  ['exit', refuseExit('exit')],
  ['reallyExit', refuseExit('reallyExit')],
  ['abort', refuseExit('abort')],
  [
    'kill',
    (pid: number, signal?: string | number) => {
      if (pid === realProcess.pid || pid === 0 || pid === -realProcess.pid) forbidden('signal its own server process', EXIT);
      return realProcess.kill(pid, signal);
    },
  ],
]);

// process's own methods called on the real process (EventEmitter's `on`
// writes to `this`), keeping their properties (`hrtime.bigint`).
const onRealProcess = new WeakMap<object, unknown>();
function methodOf(fn: (...args: unknown[]) => unknown): unknown {
  let wrapped = onRealProcess.get(fn);
  if (!wrapped) onRealProcess.set(fn, (wrapped = new Proxy(fn, { apply: (target, _this, args) => Reflect.apply(target, realProcess, args) })));
  return wrapped;
}

// A listener on `process` runs when the event comes, in the context of whoever emits it, not of
// the code that added it. So a module version's listeners are its own (OwnedListeners): removed
// when the version is replaced or refused, so that its code never runs again through an event.
// One added during a patch attempt also does nothing once that attempt is refused: it may belong
// to a live version that the attempt called into, which the refusal does not remove.
type Listener = (...args: unknown[]) => void;
/** Each adder, and the one that adds for good (a once() is a listener that removes itself). */
const LISTENER_ADDERS = { on: 'on', addListener: 'addListener', prependListener: 'prependListener', once: 'on', prependOnceListener: 'prependListener' } as const;
export type Wrapped = Listener & { listener?: unknown };

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

  /** The most recent of its listeners on `source` for `event` that wraps `listener` (which process.off removes). */
  find(source: object, event: string | symbol, listener: unknown): Wrapped | undefined {
    let found: Wrapped | undefined;
    for (const [wrapped, at] of this.added) if (at.source === source && at.event === event && wrapped.listener === listener) found = wrapped;
    return found;
  }

  /** Removes its listeners on `source` for `event` (every one of them if neither is named); returns how many there were. */
  removeAll(source?: object, event?: string | symbol): number {
    let n = 0;
    for (const [wrapped, at] of this.added) {
      if ((source !== undefined && at.source !== source) || (event !== undefined && at.event !== event)) continue;
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

/**
 * `listener` wrapped so that it does nothing once the patch attempt adding it now (if any) is refused,
 * and so that its throw goes to `onError`: Node rethrows a throwing listener on `process` or a
 * diagnostics channel as an uncaught exception, which would end the server.
 */
export function attemptBound(listener: Listener, onError: (err: unknown) => void, extra?: (wrapped: Wrapped) => void): Wrapped {
  const attempt = currentAttempt();
  const wrapped: Wrapped = function (this: unknown, ...args: unknown[]): void {
    extra?.(wrapped);
    if (attempt?.refused) return;
    try {
      Reflect.apply(listener, this, args);
    } catch (err) {
      onError(err);
    }
  };
  // process.off(event, listener) and unsubscribe(name, listener) find it by this.
  wrapped.listener = listener;
  return wrapped;
}

function listenerMethods(owner: OwnedListeners, self: () => NodeJS.Process): Map<PropertyKey, unknown> {
  const methods = new Map<PropertyKey, unknown>(
    Object.entries(LISTENER_ADDERS).map(([name, adds]) => [
      name,
      (event: string | symbol, listener: Listener) => {
        if (typeof listener !== 'function') {
          Reflect.apply(realProcess[name as keyof typeof LISTENER_ADDERS] as Listener, realProcess, [event, listener]);
          return self();
        }
        // A once() is a listener that removes itself.
        const wrapped = attemptBound(
          listener,
          owner.onError,
          adds === name
            ? undefined
            : (self) => {
                realProcess.removeListener(event, self);
                owner.forget(self);
              },
        );
        if (owner.own(realProcess, event, wrapped, () => realProcess.removeListener(event, wrapped))) Reflect.apply(realProcess[adds] as Listener, realProcess, [event, wrapped]);
        return self();
      },
    ]),
  );
  for (const name of ['off', 'removeListener']) {
    methods.set(name, (event: string | symbol, listener: Listener) => {
      const wrapped = owner.find(realProcess, event, listener);
      if (wrapped) owner.forget(wrapped);
      realProcess.removeListener(event, wrapped ?? listener);
      return self();
    });
  }
  // A module's dispose tidying up with removeAllListeners('SIGTERM') must not take the host's
  // shutdown (or its unhandledRejection guard, or other modules' listeners) with its own.
  methods.set('removeAllListeners', (event?: string | symbol) => {
    owner.removeAll(realProcess, event);
    return self();
  });
  return methods;
}

/**
 * A FinalizationRegistry whose cleanup callback, like a listener on `process`, runs outside any context its
 * maker can pass on: one made by a patch attempt does nothing once the attempt is refused.
 */
function attemptBoundRegistry(): typeof FinalizationRegistry {
  return class LogicFinalizationRegistry<T> extends FinalizationRegistry<T> {
    constructor(cleanup: (held: T) => void) {
      const attempt = typeof cleanup === 'function' ? currentAttempt() : undefined;
      super(attempt ? (held: T) => void (attempt.refused || cleanup(held)) : cleanup);
    }
  };
}

/**
 * The `process` that a module version sees: everything readable, nothing that ends or changes the
 * process, and the listeners added through it belong to the version (`owner`).
 */
function processFor(owner: OwnedListeners): NodeJS.Process {
  const proxy: NodeJS.Process = new Proxy(realProcess, {
    get(target, key) {
      if (processMethods.has(key)) return processMethods.get(key);
      if (listeners.has(key)) return listeners.get(key);
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? methodOf(value as (...args: unknown[]) => unknown) : value;
    },
    set(_target, key) {
      return forbidden(`set process.${String(key)}`, 'the process belongs to the host');
    },
    defineProperty(_target, key) {
      return forbidden(`redefine process.${String(key)}`, 'the process belongs to the host');
    },
    deleteProperty(_target, key) {
      return forbidden(`delete process.${String(key)}`, 'the process belongs to the host');
    },
  });
  const listeners = listenerMethods(owner, () => proxy);
  return proxy;
}

const BUILTIN_WHY = 'the host and every other module share it (the host reads the clock, times and encodes through it); logic that needs another behaviour should call its own function';

/**
 * A read-only view of a built-in the host also uses: reads (and calls, `new`,
 * `instanceof`) behave as on the real one, writes are refused. Functions read
 * through it are bound to the real object when `bind` is set (performance's
 * methods check their `this`).
 */
function readOnlyView<T extends object>(target: T, name: string, bind = false): T {
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    ...(bind
      ? {
          get(t: T, key: PropertyKey) {
            const value: unknown = Reflect.get(t, key, t);
            if (typeof value !== 'function') return value;
            let fn = bound.get(key);
            if (!fn) bound.set(key, (fn = (value as (...args: unknown[]) => unknown).bind(t)));
            return fn;
          },
        }
      : {}),
    set(_t, key) {
      return forbidden(`set ${name}.${String(key)}`, BUILTIN_WHY);
    },
    defineProperty(_t, key) {
      return forbidden(`redefine ${name}.${String(key)}`, BUILTIN_WHY);
    },
    deleteProperty(_t, key) {
      return forbidden(`delete ${name}.${String(key)}`, BUILTIN_WHY);
    },
  });
}

/**
 * The free names logic sees in place of the globals the host relies on. Each
 * module version's bundle gets them as parameters, so a bare
 * `setImmediate = …` (or `queueMicrotask = …`) in logic writes the module's
 * own binding and never the real global, and `Date.now = …`,
 * `performance.now = …` or `JSON.stringify = …` are refused with
 * LOGIC_FORBIDDEN. (setTimeout and setInterval are the version's tracked
 * timers, see evaluate.ts.)
 */
export const logicBuiltins: Record<string, unknown> = {
  FinalizationRegistry: attemptBoundRegistry(),
  setImmediate: hostSetImmediate,
  clearImmediate: hostClearImmediate,
  queueMicrotask: hostQueueMicrotask,
  Date: readOnlyView(Date, 'Date'),
  JSON: readOnlyView(JSON, 'JSON'),
  performance: readOnlyView(performance, 'performance', true),
};

const GLOBAL_WHY = 'the host and every other module share the global object (its timers, tick loop and persistence use it); keep data in a store under state/';

/** The global object as logic sees it, with `process` as its `process`: readable, never written. */
function globalFor(process: NodeJS.Process): typeof globalThis {
  const proxy: typeof globalThis = new Proxy(globalThis, {
    get(target, key) {
      if (key === 'process') return process;
      if (key === 'globalThis' || key === 'global') return proxy;
      if (typeof key === 'string' && Object.hasOwn(logicBuiltins, key)) return logicBuiltins[key];
      return Reflect.get(target, key, target);
    },
    set(_target, key) {
      return forbidden(`set the global "${String(key)}"`, GLOBAL_WHY);
    },
    defineProperty(_target, key) {
      return forbidden(`define the global "${String(key)}"`, GLOBAL_WHY);
    },
    deleteProperty(_target, key) {
      return forbidden(`delete the global "${String(key)}"`, GLOBAL_WHY);
    },
  });
  return proxy;
}

/** Logic's `require` of node:process, node:timers, node:timers/promises and node:diagnostics_channel gets the version's own. */
export function guardRequire(require: (specifier: string) => unknown, own: Record<string, unknown>): (specifier: string) => unknown {
  return (specifier) => {
    const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
    return Object.hasOwn(own, name) ? own[name] : require(specifier);
  };
}

/** The free names `process`, `globalThis` and `global` of one module version, whose listeners on process `owner` keeps. */
export function versionScope(owner: OwnedListeners): { process: NodeJS.Process; global: typeof globalThis } {
  const process = processFor(owner);
  return { process, global: globalFor(process) };
}
