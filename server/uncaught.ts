import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceLocation } from './errors.ts';
import { locateError } from './patch/sourcemaps.ts';
import { thrownStack } from './thrown.ts';

// Who threw an exception that nothing caught. Game logic's own (a frame in a
// module of logic/, mapped to its TypeScript) and throws from outside the
// server's code (a package's timer, an fs callback's error, a string thrown
// from a callback: no frame says more) are logged, and the server goes on,
// as for a throwing timer. A throw in the server's own code means its state
// may be wrong: it stops, with a final snapshot of what committed.

const SERVER_DIR = path.dirname(fileURLToPath(import.meta.url)) + path.sep;

export type Thrower = { from: 'logic'; at: SourceLocation } | { from: 'server' } | { from: 'elsewhere' };

export function whoThrew(err: unknown, serverDir = SERVER_DIR): Thrower {
  const at = locateError(err);
  if (at) return { from: 'logic', at };
  const stack = thrownStack(err);
  return stack?.split('\n').some((frame) => frame.includes(serverDir)) ? { from: 'server' } : { from: 'elsewhere' };
}
