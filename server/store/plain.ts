import { types } from 'node:util';
import { rebindError } from '../errors.ts';

// Stores accept only what survives a trip through MessagePack and JSON
// unchanged, so that snapshots, the journal and client sync all see the same
// value that logic wrote.

type PathKey = string | number;

export function describePath(store: string, path: readonly PathKey[]): string {
  return [store, ...path.map(String)].join('.');
}

function fail(store: string, path: readonly PathKey[], what: string): never {
  throw rebindError('NOT_PLAIN_DATA', `${describePath(store, path)}: ${what} is not plain data`, {
    details: { store, path: path.map(String) },
  });
}

function describeValue(value: unknown): string {
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'bigint') return 'a bigint';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  const ctor = (value as object).constructor;
  return `an instance of ${ctor && typeof ctor === 'function' && ctor.name ? ctor.name : 'an unknown class'}`;
}

/**
 * A string with half of a surrogate pair alone: MessagePack (the journal, snapshots, most clients)
 * writes UTF-8, which cannot carry it, so it would come back as U+FFFD after a restart, and reach a
 * MessagePack client otherwise than a JSON one.
 */
function wellFormed(text: string, store: string, path: readonly PathKey[]): void {
  if (!isWellFormed(text)) fail(store, path, 'a string with an unpaired surrogate (not well-formed UTF-16)');
}

/** Whether `text` has no unpaired surrogate: MessagePack writes UTF-8, so one would come back as U+FFFD. */
export function isWellFormed(text: string): boolean {
  // (String.prototype.isWellFormed is Node 20's; the TypeScript lib in use predates it.)
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** Throws NOT_PLAIN_DATA for the first key of `path` (a row id, a field) that is a string with an unpaired surrogate. */
export function assertKeysWellFormed(store: string, path: readonly PathKey[]): void {
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (typeof key === 'string' && !isWellFormed(key)) fail(store, path.slice(0, i), `the key ${JSON.stringify(key)}, a string with an unpaired surrogate (not well-formed UTF-16),`);
  }
}

/**
 * Throws NOT_PLAIN_DATA naming `store.path.to.value` for the first thing that
 * is not plain data: functions, symbols, bigints, class instances (Date, Map,
 * ...), cycles, `undefined` inside arrays, NaN and the infinities, getters and
 * setters, hidden properties, and arrays with named properties. `undefined`
 * as an object property is allowed: both codecs drop or keep it harmlessly.
 */
export function assertPlain(value: unknown, store: string, path: PathKey[] = [], insideArray = false): void {
  // Most values checked are a field's new number or string: no walk, no set of the objects on the path.
  if (typeof value === 'string') return wellFormed(value, store, path);
  if (typeof value === 'boolean' || value === null) return;
  if (typeof value === 'number' && Number.isFinite(value)) return;
  visit({ store, path, onStack: new Set() }, value, insideArray);
}

interface Walk {
  store: string;
  path: PathKey[];
  /** The objects between the root and the value visited: a value among them is a cycle. */
  onStack: Set<object>;
}

// A function of the module, not a closure made per call: under tsx each
// closure made per call is also named at run time (esbuild's keepNames),
// which cost more than the check itself on a tick that writes many fields.
function visit(walk: Walk, v: unknown, inArray: boolean): void {
  const { store, path, onStack } = walk;
  switch (typeof v) {
    case 'string':
      return wellFormed(v, store, path);
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(v)) fail(store, path, describeValue(v));
      return;
    case 'undefined':
      if (inArray) fail(store, path, 'undefined in an array');
      return;
    case 'object':
      break;
    default:
      fail(store, path, describeValue(v));
  }
  if (v === null) return;
  const obj = v as object;
  // A Proxy answers the encoders' reads through its traps, not what is checked here.
  if (types.isProxy(obj)) fail(store, path, 'a proxy');
  if (onStack.has(obj)) fail(store, path, 'a cycle (a value that contains itself)');
  if (Array.isArray(obj)) {
    // Both codecs keep an array's elements as read, and nothing else: a subclass, a named property
    // (a.extra = 5), a symbol key, a hidden or getter element would make memory differ from the journal.
    if (Object.getPrototypeOf(obj) !== Array.prototype) fail(store, path, describeValue(obj));
    if (Object.getOwnPropertyNames(obj).length > obj.length + 1) fail(store, path, 'an array with named properties');
    if (Object.getOwnPropertySymbols(obj).length > 0) fail(store, path, 'an array with symbol keys');
    onStack.add(obj);
    for (let i = 0; i < obj.length; i++) {
      path.push(i);
      visit(walk, plainValue(walk, obj, i), true);
      path.pop();
    }
    onStack.delete(obj);
    return;
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) fail(store, path, describeValue(obj));
  if (Object.getOwnPropertySymbols(obj).length > 0) fail(store, path, 'an object with symbol keys');
  onStack.add(obj);
  for (const key of Object.getOwnPropertyNames(obj)) {
    wellFormed(key, store, path);
    path.push(key);
    visit(walk, plainValue(walk, obj, key), false);
    path.pop();
  }
  onStack.delete(obj);
}

/**
 * The value of an own property (an array's element too), refusing what the codecs would not keep as
 * it is: a getter or setter (stored live in a frozen row), a hidden (non-enumerable) property. `walk.path`
 * ends with `key`'s place for the message.
 */
function plainValue(walk: Walk, obj: object, key: string | number): unknown {
  const property = Object.getOwnPropertyDescriptor(obj, key);
  // A hole in an array: the walk says what it reads there (undefined in an array).
  if (!property) return undefined;
  if (property.get || property.set) fail(walk.store, walk.path, 'an accessor (getter or setter)');
  if (!property.enumerable) fail(walk.store, walk.path, 'a hidden (non-enumerable) property');
  return property.value;
}

/** How deep a reply or a push may nest: past about 1,300 levels MessagePack's encoder runs out of stack, after the commit. */
export const MAX_MESSAGE_DEPTH = 500;

/**
 * Throws NOT_PLAIN_DATA when `value` nests deeper than `max` objects and arrays (walked with a stack
 * of its own, so that the check itself never runs out of one). For what is sent, not stored.
 */
export function assertShallow(value: unknown, label: string, max = MAX_MESSAGE_DEPTH): void {
  if (typeof value !== 'object' || value === null) return;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [at, depth] = stack.pop()!;
    if (depth > max) throw rebindError('NOT_PLAIN_DATA', `${label}: nested more than ${max} levels deep; send less deeply nested data`, { details: { store: label } });
    for (const child of Object.values(at as object)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}
