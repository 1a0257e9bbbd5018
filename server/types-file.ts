import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// rebind-env.d.ts: every handler of a game by name, to the type of the
// function its module exports. tsc then checks the names and payloads of
// client.call, ctx.call and ctx.schedule and types their results (see
// client/handler-types.ts). Type-level references only: no compiler API, and
// a handler's types are whatever its own file says they are.

export const TYPES_FILE = 'rebind-env.d.ts';

export interface ModuleHandlers {
  /** `combat/melee` */
  module: string;
  /** The module's file, absolute. */
  file: string;
  /** Export names that are handlers (not init, dispose, tick or migrations). */
  handlers: string[];
}

const NOT_HANDLERS = new Set(['init', 'dispose', 'tick', 'migrations', 'default']);

export function handlerExports(exportNames: string[]): string[] {
  return exportNames.filter((name) => !NOT_HANDLERS.has(name));
}

export function typesFileText(root: string, modules: ModuleHandlers[]): string {
  const lines: string[] = [];
  for (const m of [...modules].sort((a, b) => a.module.localeCompare(b.module))) {
    let rel = path.relative(root, m.file).split(path.sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    for (const handler of [...m.handlers].sort()) lines.push(`  '${m.module}.${handler}': typeof import('${rel}')['${handler}'];`);
  }
  return `// Written by \`rebind types\` (and by the server after every patch in --watch): do not edit.
// Every handler of this game by name, so that tsc checks the names and payloads
// of client.call, ctx.call and ctx.schedule, and types their results.
type GameHandlers = {
${lines.join('\n')}
};
declare module 'rebind' {
  interface Handlers extends GameHandlers {}
}
declare module 'rebind/client' {
  interface Handlers extends GameHandlers {}
}
export {};
`;
}

/** Writes `<root>/rebind-env.d.ts` (whole or not at all); returns its path. */
export function writeTypesFile(root: string, modules: ModuleHandlers[]): string {
  const file = path.join(root, TYPES_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, typesFileText(root, modules));
  renameSync(tmp, file);
  return file;
}
