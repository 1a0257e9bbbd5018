// Logic shares the host's built-ins: `Array.prototype.push = …`,
// `Map.prototype.get = …` or `Object.prototype.then = …` in logic would break
// the host (the WebSocket library, immer, the journal) for every player.
// Freezing the built-ins would stop that but also break libraries that
// polyfill or extend them, so rebind checks instead: a fingerprint of the key
// built-ins (their own properties, and those of their prototypes) is taken
// once before a patch activates, and compared after each module's top level,
// its migrations and its init run. A difference refuses the patch with LOGIC_FORBIDDEN
// and puts the built-ins back as they were. A handler that does it at run
// time is not caught here (see the guide, "What logic must not do").

/** Per watched object: its name, and its own keys with their descriptors (plain arrays, see below). */
export type Fingerprint = Array<{ name: string; target: object; keys: PropertyKey[]; descs: PropertyDescriptor[] }>;

// This file must work after logic replaced what it would use (Array.prototype.push,
// Map.prototype.get, iterators): it uses only indexed loops and functions taken here.
const ownKeys = Reflect.ownKeys;
const describe = Reflect.getOwnPropertyDescriptor;
const define = Reflect.defineProperty;
const remove = Reflect.deleteProperty;
const is = Object.is;

const NAMED: Array<[string, unknown]> = [
  ['Object', Object],
  ['Function', Function],
  ['Array', Array],
  ['String', String],
  ['Number', Number],
  ['Boolean', Boolean],
  ['Symbol', Symbol],
  ['BigInt', BigInt],
  ['Map', Map],
  ['Set', Set],
  ['WeakMap', WeakMap],
  ['WeakSet', WeakSet],
  ['Promise', Promise],
  ['Error', Error],
  ['TypeError', TypeError],
  ['RegExp', RegExp],
  ['Date', Date],
  ['JSON', JSON],
  ['Math', Math],
  ['Reflect', Reflect],
  ['ArrayBuffer', ArrayBuffer],
  ['Uint8Array', Uint8Array],
  ['TypedArray', Object.getPrototypeOf(Uint8Array) as unknown],
  ['Buffer', Buffer],
  ['EventEmitter', Object.getPrototypeOf(process.constructor.prototype)?.constructor as unknown],
];

function watched(): Array<[string, object]> {
  const out: Array<[string, object]> = [];
  for (const [name, value] of NAMED) {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) continue;
    out.push([name, value]);
    const proto = (value as { prototype?: unknown }).prototype;
    if (typeof value === 'function' && proto && typeof proto === 'object') out.push([`${name}.prototype`, proto]);
  }
  return out;
}

const TARGETS = watched();

/** Harmless to change, and changed by host code too. */
const IGNORED = 'stackTraceLimit';

function indexOf(keys: PropertyKey[], key: PropertyKey): number {
  for (let i = 0; i < keys.length; i++) if (keys[i] === key) return i;
  return -1;
}

/** The built-ins' own properties now. */
export function fingerprint(): Fingerprint {
  const print: Fingerprint = [];
  for (let t = 0; t < TARGETS.length; t++) {
    const [name, target] = TARGETS[t]!;
    const keys: PropertyKey[] = [];
    const descs: PropertyDescriptor[] = [];
    const own = ownKeys(target);
    for (let i = 0; i < own.length; i++) {
      const key = own[i]!;
      const desc = describe(target, key);
      if (key === IGNORED || !desc) continue;
      keys[keys.length] = key;
      descs[descs.length] = desc;
    }
    print[print.length] = { name, target, keys, descs };
  }
  return print;
}

function same(a: PropertyDescriptor, b: PropertyDescriptor): boolean {
  // A value property whose value did not change is the same even if its attributes did (a freeze).
  if ('value' in a && 'value' in b) return is(a.value, b.value);
  return a.get === b.get && a.set === b.set;
}

/**
 * What changed in the built-ins since `before` was taken (e.g.
 * `Array.prototype.push`), after putting each back as it was. Empty when
 * nothing changed. Costs some tens of microseconds.
 */
export function restoreIntrinsics(before: Fingerprint): string[] {
  const changed: string[] = [];
  const note = (what: string) => {
    changed[changed.length] = what;
  };
  for (let t = 0; t < before.length; t++) {
    const { name, target, keys, descs } = before[t]!;
    const own = ownKeys(target);
    for (let i = 0; i < own.length; i++) {
      const key = own[i]!;
      if (key === IGNORED) continue;
      // Own keys keep their order unless logic added or deleted some: the scan is for that case.
      const at = keys[i] === key ? i : indexOf(keys, key);
      const now = describe(target, key);
      if (at >= 0 && now && same(descs[at]!, now)) continue;
      note(`${name}.${String(key)}`);
      try {
        if (at >= 0) define(target, key, descs[at]!);
        else remove(target, key);
      } catch {
        // made non-configurable: it stays as logic left it (reported all the same)
      }
    }
    for (let i = 0; i < keys.length; i++) {
      if (describe(target, keys[i]!)) continue;
      note(`${name}.${String(keys[i]!)} (deleted)`);
      try {
        define(target, keys[i]!, descs[i]!);
      } catch {
        // not extensible any more
      }
    }
  }
  return changed;
}
