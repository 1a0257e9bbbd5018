import { inspect } from 'node:util';

// What a thrown value says, read without throwing in turn. Logic may throw
// anything: a string, null, an object with no prototype (String() of it
// throws), an Error whose `stack` getter throws. The code that reports such a
// throw must not throw itself: inside an uncaughtException handler, Node
// would end the process on the spot, with no final snapshot.

function tryRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** The value's message: an Error's, a string as is, anything else as printed. */
export function thrownMessage(value: unknown): string {
  if (typeof value === 'string') return value;
  const message = tryRead(() => (value instanceof Error ? value.message : undefined));
  if (typeof message === 'string') return message;
  const text = tryRead(() => String(value));
  if (typeof text === 'string') return text;
  return tryRead(() => inspect(value, { depth: 1, customInspect: false, getters: false })) ?? 'a thrown value that cannot be printed';
}

/** An Error's stack, if it has one that can be read. */
export function thrownStack(value: unknown): string | undefined {
  const stack = tryRead(() => (value instanceof Error ? value.stack : undefined));
  return typeof stack === 'string' ? stack : undefined;
}

/** The stack if there is one, else the message: for a log line. */
export function describeThrown(value: unknown): string {
  return thrownStack(value) ?? thrownMessage(value);
}

/** The value as an error object of plain data a logger can serialize without touching the value again. */
export function loggableError(value: unknown): Error {
  const stack = thrownStack(value);
  const name = tryRead(() => (value instanceof Error ? value.name : undefined));
  // An Error's prototype, so that a logger names its type "Error"; its fields are plain data.
  const out = Object.create(Error.prototype) as Error;
  // Its own fields (a code, details) as they read now; one that throws when read is left out.
  for (const key of tryRead(() => Object.keys(value as object)) ?? []) {
    const field = tryRead(() => ({ value: (value as Record<string, unknown>)[key] }));
    if (field && key !== 'message' && key !== 'stack' && key !== 'name') Object.defineProperty(out, key, { value: field.value, enumerable: true });
  }
  Object.defineProperties(out, {
    name: { value: typeof name === 'string' ? name : 'Error', enumerable: false },
    message: { value: thrownMessage(value), enumerable: true },
    stack: { value: stack ?? thrownMessage(value), enumerable: false },
  });
  return out;
}
