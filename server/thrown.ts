import { inspect, types } from 'node:util';

// What a thrown value says, read without throwing in turn. Logic may throw
// anything: a string, null, an object with no prototype (String() of it
// throws), an Error whose `stack` getter throws, a proxy whose every trap
// throws, an error carrying a frozen store row or data nested 20,000 deep. The
// code that reports such a throw must not throw itself: inside an
// uncaughtException handler, Node would end the process on the spot, with no
// final snapshot. So what the log is given is plain data built here (strings,
// numbers, booleans, bounded in depth and size), read from the value's own
// stored properties: no getter, proxy trap, toString or toJSON of logic's runs.

function tryRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** How much of one message, one stack and one field's text a log line carries. */
export const LOG_LIMITS = { message: 8 * 1024, stack: 16 * 1024, text: 2 * 1024, depth: 4, keys: 30, nodes: 300 };

/** `text` cut to `max` characters, saying that it was and how long it was. */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (cut: ${text.length} characters in all)`;
}

/** A property as stored on the value or a prototype: `{ value }`, 'getter' (not run), or undefined (absent, or behind a proxy). */
function stored(value: object, key: PropertyKey): { value: unknown } | 'getter' | undefined {
  let at: object | null = value;
  for (let i = 0; at !== null && i < 64; i++) {
    if (types.isProxy(at)) return undefined;
    const desc = Object.getOwnPropertyDescriptor(at, key);
    if (desc) return 'value' in desc ? { value: desc.value } : 'getter';
    at = Object.getPrototypeOf(at) as object | null;
  }
  return undefined;
}

function storedString(value: object, key: PropertyKey): string | undefined {
  const found = tryRead(() => stored(value, key));
  return typeof found === 'object' && typeof found.value === 'string' ? found.value : undefined;
}

/** Whether the value is an error (a native one, or anything with Error.prototype in its chain), found without a trap. */
export function isThrownError(value: unknown): value is Error {
  if (typeof value !== 'object' || value === null) return false;
  return (
    tryRead(() => {
      if (types.isProxy(value)) return false;
      if (types.isNativeError(value)) return true;
      let at = Object.getPrototypeOf(value) as object | null;
      for (let i = 0; at !== null && i < 64 && !types.isProxy(at); i++, at = Object.getPrototypeOf(at) as object | null) if (at === Error.prototype) return true;
      return false;
    }) ?? false
  );
}

/** The name of the value's constructor, as stored. */
function constructorName(object: object): string | undefined {
  const ctor = tryRead(() => stored(object, 'constructor'));
  return typeof ctor === 'object' && typeof ctor.value === 'function' ? storedString(ctor.value, 'name') : undefined;
}

/** An error's type: its constructor's name, else its `name`, as stored. */
function errorType(err: object): string {
  return constructorName(err) || storedString(err, 'name') || 'Error';
}

/** The value's message: an Error's, a string as is, anything else as printed. */
export function thrownMessage(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isThrownError(value)) {
    const message = storedString(value, 'message');
    if (message !== undefined) return message;
  }
  const text = tryRead(() => String(value));
  if (typeof text === 'string') return text;
  return describeValue(value);
}

/** An Error's stack as stored (a getter of logic's is not run), if it has one. */
export function thrownStack(value: unknown): string | undefined {
  return isThrownError(value) ? storedString(value, 'stack') : undefined;
}

/** The stack if there is one, else the message: for a log line. */
export function describeThrown(value: unknown): string {
  return thrownStack(value) ?? thrownMessage(value);
}

/** Plain data a logger can serialize: a copy of the value, bounded, made of stored data only. */
export function plainData(value: unknown, depth = LOG_LIMITS.depth, budget = { nodes: LOG_LIMITS.nodes }, seen = new Set<object>()): unknown {
  if (--budget.nodes < 0) return '…';
  switch (typeof value) {
    case 'string':
      return cut(value, LOG_LIMITS.text);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
    case 'undefined':
      return value;
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return String(value);
    case 'function':
      return types.isProxy(value) ? '[a proxy]' : `[function ${storedString(value, 'name') || '(anonymous)'}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (types.isProxy(object)) return '[a proxy]';
  if (isThrownError(object)) return `${errorType(object)}: ${cut(storedString(object, 'message') ?? '', LOG_LIMITS.text)}`;
  if (types.isAnyArrayBuffer(object) || ArrayBuffer.isView(object) || types.isBoxedPrimitive(object)) return `[${constructorName(object) || 'object'}]`;
  if (seen.has(object)) return '[cycle]';
  if (depth <= 0) return '[…]';
  seen.add(object);
  try {
    if (Array.isArray(object)) {
      const out: unknown[] = [];
      const length = object.length;
      for (let i = 0; i < length && i < LOG_LIMITS.keys; i++) out.push(field(object, i, depth, budget, seen));
      if (length > LOG_LIMITS.keys) out.push(`… (${length} items in all)`);
      return out;
    }
    const out: Record<string, unknown> = {};
    const keys = Object.keys(object);
    for (let i = 0; i < keys.length && i < LOG_LIMITS.keys; i++) put(out, keys[i]!, field(object, keys[i]!, depth, budget, seen));
    if (keys.length > LOG_LIMITS.keys) put(out, '…', `${keys.length} keys in all`);
    return out;
  } finally {
    seen.delete(object);
  }
}

/** Sets a key of a copy as data, `__proto__` included (an assignment would change the copy's prototype). */
function put(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function field(object: object, key: string | number, depth: number, budget: { nodes: number }, seen: Set<object>): unknown {
  const desc = Object.getOwnPropertyDescriptor(object, key);
  if (!desc) return undefined;
  return 'value' in desc ? plainData(desc.value, depth - 1, budget, seen) : '[getter]';
}

/** Any value as bounded readable text, for a log line's message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return cut(value, LOG_LIMITS.message);
  const stack = thrownStack(value);
  if (stack !== undefined) return cut(stack, LOG_LIMITS.stack);
  const copy = tryRead(() => plainData(value));
  // inspect reads only the copy made here; a string of it is shown as is.
  const text = typeof copy === 'string' ? copy : tryRead(() => inspect(copy, { depth: Infinity, breakLength: Infinity }));
  return cut(text ?? 'a value that cannot be read', LOG_LIMITS.message);
}

/** An error as a logger shows it: type, message, stack (cut when long), code and its other fields, all plain data. */
export interface LoggedError {
  type: string;
  message: string;
  stack: string;
  [field: string]: unknown;
}

/** The error as plain data a logger can serialize without touching the value again. */
export function loggableError(err: object): LoggedError {
  const type = errorType(err);
  const message = storedString(err, 'message') ?? '';
  const out: LoggedError = { type, message: cut(message, LOG_LIMITS.message), stack: cut(storedString(err, 'stack') ?? `${type}: ${message}`, LOG_LIMITS.stack) };
  // Its own fields (a code, details, what logic put on it) as they are stored now; a getter is not run.
  const keys = tryRead(() => Object.keys(err)) ?? [];
  for (let i = 0; i < keys.length && i < LOG_LIMITS.keys; i++) {
    const key = keys[i]!;
    if (Object.hasOwn(out, key)) continue;
    put(out, key, tryRead(() => field(err, key, LOG_LIMITS.depth, { nodes: LOG_LIMITS.nodes }, new Set())) ?? '[unreadable]');
  }
  // Node's own `cause` (not enumerable): its stack, or what it is.
  const cause = tryRead(() => stored(err, 'cause'));
  if (!Object.hasOwn(out, 'cause') && typeof cause === 'object') out.cause = describeValue(cause.value);
  return out;
}
