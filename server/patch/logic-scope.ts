import { rebindError } from '../errors.ts';
import { hostClearImmediate } from '../host-globals.ts';
import { currentAttempt } from '../store/transaction.ts';
import { channelsFor } from './logic-channels.ts';
import { listenerMethods, type OwnedListeners } from './logic-process.ts';

// What the free names `process`, `globalThis` and `global` mean inside game
// logic. Logic is trusted code and is not isolated, but a mistake in it must
// not stop the host: `process.exit()` would end the server without its last
// snapshot, and replacing `globalThis.setTimeout` would stop every timer the
// host starts later. So logic sees a `process` that refuses to end or change
// the process, and a global object it can read but not write. (Code that
// digs the real objects out on purpose still can; this guards against
// mistakes, not against malice.)

const realProcess = process;

export function forbidden(what: string, why: string): never {
  throw rebindError('LOGIC_FORBIDDEN', `game logic may not ${what}: ${why}`, { details: { what } });
}

const EXIT = 'the server would stop without its last snapshot and drop every player; stop it with SIGTERM (Ctrl-C) or from the CLI';

function refuseExit(name: string): () => never {
  return () => forbidden(`call process.${name}()`, EXIT);
}

const SHARED = 'it changes the process for the server and every other module, and outlives the version that called it';

function refuseShared(name: string, why = SHARED): () => never {
  return () => forbidden(`call process.${name}()`, why);
}

const processMethods = new Map<PropertyKey, unknown>([
  ...['chdir', 'setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups', 'setSourceMapsEnabled'].map((name): [string, unknown] => [name, refuseShared(name)]),
  ['setUncaughtExceptionCaptureCallback', refuseShared('setUncaughtExceptionCaptureCallback', `${SHARED}: it would take every uncaught exception in the server, and the next version could not set its own; a throw in logic is already caught and reported against its module`)],
  ['setMaxListeners', refuseShared('setMaxListeners', `${SHARED} (it hides or raises the server's own leak warnings); a version's listeners on process are removed when it is replaced, so they do not pile up`)],
  // Reading the mask is harmless; setting it changes every file the server creates from then on.
  ['umask', (...mask: unknown[]) => (mask.length === 0 || mask[0] === undefined ? realProcess.umask() : forbidden('call process.umask(mask)', SHARED))],
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

/** process.env to read: a write (TZ, say) changes it for the server and every module. */
const env = new Proxy(realProcess.env, {
  set: (_target, key) => forbidden(`set process.env.${String(key)}`, 'the environment is the server\'s and every module\'s (TZ would change every clock reading)'),
  defineProperty: (_target, key) => forbidden(`define process.env.${String(key)}`, 'the environment is the server\'s and every module\'s'),
  deleteProperty: (_target, key) => forbidden(`delete process.env.${String(key)}`, 'the environment is the server\'s and every module\'s'),
});

/**
 * The `process` that a module version sees: everything readable, nothing that ends or changes the
 * process, the listeners added through it belong to the version (`owner`, logic-process.ts), and
 * getBuiltinModule gives the version's own `builtins` (Node's would hand out the host's timers,
 * channels and process, around all ownership).
 */
function processFor(owner: OwnedListeners, builtins: () => Record<string, unknown>, nextTick: unknown): NodeJS.Process {
  const getBuiltinModule = (id: string): unknown => {
    const own = builtins();
    const name = typeof id === 'string' && id.startsWith('node:') ? id.slice(5) : id;
    return typeof name === 'string' && Object.hasOwn(own, name) ? own[name] : realProcess.getBuiltinModule(id);
  };
  const proxy: NodeJS.Process = new Proxy(realProcess, {
    get(target, key) {
      if (processMethods.has(key)) return processMethods.get(key);
      if (listeners.has(key)) return listeners.get(key);
      if (key === 'getBuiltinModule' && typeof target.getBuiltinModule === 'function') return getBuiltinModule;
      if (key === 'nextTick') return nextTick;
      if (key === 'env') return env;
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
 * `clearImmediate = …` in logic writes the module's own binding and never the
 * real global, and `Date.now = …`, `performance.now = …` or
 * `JSON.stringify = …` are refused with LOGIC_FORBIDDEN. (setTimeout,
 * setInterval, setImmediate and queueMicrotask are the version's own, see
 * evaluate.ts.)
 */
export const logicBuiltins: Record<string, unknown> = {
  FinalizationRegistry: attemptBoundRegistry(),
  clearImmediate: hostClearImmediate,
  Date: readOnlyView(Date, 'Date'),
  JSON: readOnlyView(JSON, 'JSON'),
  performance: readOnlyView(performance, 'performance', true),
};

const GLOBAL_WHY = 'the host and every other module share the global object (its timers, tick loop and persistence use it); keep data in a store under state/';

/** The global object as logic sees it, with `process` as its `process`: readable, never written. */
function globalFor(process: NodeJS.Process, queued: QueuedByVersion): typeof globalThis {
  const proxy: typeof globalThis = new Proxy(globalThis, {
    get(target, key) {
      if (key === 'process') return process;
      if (key === 'setImmediate' || key === 'queueMicrotask') return queued[key];
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

/** Logic's `require` of one of the version's own built-ins (`own`, named without `node:`) gets the version's. */
export function guardRequire(require: (specifier: string) => unknown, own: Record<string, unknown>): (specifier: string) => unknown {
  return (specifier) => {
    const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
    return Object.hasOwn(own, name) ? own[name] : require(specifier);
  };
}

/** The version's setImmediate, queueMicrotask and process.nextTick: a throw in what they run is reported against its module (evaluate.ts). */
export interface QueuedByVersion {
  setImmediate: unknown;
  queueMicrotask: unknown;
  nextTick: unknown;
}

export interface VersionScope {
  process: NodeJS.Process;
  global: typeof globalThis;
  /** The built-ins that are the version's own, by name without `node:`: what its require and getBuiltinModule give. */
  builtins: Record<string, unknown>;
}

/**
 * The free names `process`, `globalThis` and `global` of one module version and its own built-ins:
 * `process`, `timers` and `timers/promises` (`timers`, tracked: evaluate.ts), `events` (whose
 * once() and on() give up when the version stops: evaluate.ts) and `diagnostics_channel`, whose
 * listeners and subscriptions `owner` keeps.
 */
export function versionScope(owner: OwnedListeners, timers: Record<string, unknown> & { promises: unknown }, events: unknown, queued: QueuedByVersion): VersionScope {
  const process = processFor(owner, () => builtins, queued.nextTick);
  const builtins: Record<string, unknown> = { process, timers, 'timers/promises': timers.promises, diagnostics_channel: channelsFor(owner), events };
  return { process, global: globalFor(process, queued), builtins };
}
