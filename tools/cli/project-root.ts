import { statSync } from 'node:fs';
import path from 'node:path';

// A game's commands work from any folder inside it (`cd my-game/logic &&
// npx rebind status`), as git's and npm's do: the project is the nearest
// folder, from here up, with a logic/ folder in it. Its data/ is where the
// server keeps admin.token, and its root is what rebind types and watch read.

function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** The nearest folder from `from` up that has logic/, or undefined outside any game. */
export function findProjectRoot(from = process.cwd()): string | undefined {
  for (let at = path.resolve(from); ; at = path.dirname(at)) {
    if (isDir(path.join(at, 'logic'))) return at;
    if (path.dirname(at) === at) return undefined;
  }
}
