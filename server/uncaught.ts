import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import { formatLocation, isRebindError, type SourceLocation } from './errors.ts';
import { locateError } from './patch/sourcemaps.ts';
import { thrownStack } from './thrown.ts';

// Who threw an exception that nothing caught. Game logic's own (a frame in a
// module of logic/, mapped to its TypeScript); a typed refusal the server made
// for a caller (a RebindError: a store refusing a row, ctx.callRoom of a name
// that is no handler), which logic let through an emitter, a callback or a
// rethrow, so that no frame of logic's may be left on its stack; and throws
// from outside the server's code (a package's timer, an fs callback's error, a
// string thrown from a callback: no frame says more) are logged, and the server
// goes on, as for a throwing timer. Any other throw in the server's own code
// means its state may be wrong: it stops, with a final snapshot of what
// committed.

const SERVER_DIR = path.dirname(fileURLToPath(import.meta.url)) + path.sep;

export type Thrower = { from: 'logic'; at: SourceLocation } | { from: 'refusal'; code: string } | { from: 'server' } | { from: 'elsewhere' };

export function whoThrew(err: unknown, serverDir = SERVER_DIR): Thrower {
  const at = locateError(err);
  if (at) return { from: 'logic', at };
  // Not through a proxy's trap: instanceof would run logic's getPrototypeOf.
  if (!types.isProxy(err) && isRebindError(err)) return { from: 'refusal', code: err.code };
  const stack = thrownStack(err);
  return stack?.split('\n').some((frame) => frame.includes(serverDir)) ? { from: 'server' } : { from: 'elsewhere' };
}

/** A stack frame: "    at f (file:line:col)" or "    at file:line:col". */
const FRAME = /^\s+at (?:.*\()?(.+):(\d+):\d+\)?$/;

/** The first frame's file:line, read line by line (a line longer than any frame, a long message's, is skipped). */
function firstFrame(stack: string): string | undefined {
  for (let start = 0; start < stack.length; ) {
    const newline = stack.indexOf('\n', start);
    const end = newline < 0 ? stack.length : newline;
    const frame = end - start < 2000 ? FRAME.exec(stack.slice(start, end)) : null;
    if (frame) return `${frame[1]}:${frame[2]}`;
    start = end + 1;
  }
  return undefined;
}

/**
 * Where the throw happened, as a key for the log's throttle: the mapped logic location, else the
 * first frame's file:line, else one key for every value with no stack. Never the message: a message
 * with an id in it is a new key per throw, and the throttle would keep them all.
 */
export function throwPlace(err: unknown, thrower: Thrower): string {
  if (thrower.from === 'logic') return formatLocation(thrower.at);
  const place = firstFrame(thrownStack(err) ?? '') ?? 'a thrown value with no stack';
  return thrower.from === 'refusal' ? `${thrower.code} at ${place}` : place;
}
