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

/** Exports the engine takes as lifecycle hooks or migrations, not handlers (patch/bindings.ts readExports). */
const NOT_HANDLERS = new Set(['init', 'dispose', 'tick', 'migrations']);

export function handlerExports(exportNames: string[]): string[] {
  return exportNames.filter((name) => !NOT_HANDLERS.has(name));
}

/** What a value written literally is, when it is certainly not a function; undefined when it is, or may be one. */
function literalKind(expr: string): string | undefined {
  const e = expr.trimStart();
  if (/^(-\s*)?(\d|\.\d)/.test(e)) return 'a number';
  if (/^["'`]/.test(e)) return 'a string';
  if (/^\{/.test(e)) return 'an object';
  if (/^\[/.test(e)) return 'an array';
  if (/^(true|false)\b/.test(e)) return 'a boolean';
  if (/^null\b/.test(e)) return 'null';
  if (/^(undefined|void\b)/.test(e)) return 'undefined';
  if (/^new\s/.test(e)) return 'an object';
  return undefined;
}

/**
 * The engine refuses a whole module that exports anything but functions
 * (and a migrations object), so `rebind types` must not list its handlers.
 * Without running the module, this finds exports whose declaration is
 * certainly not a function: a literal number, string, object, array...
 * `js` is the module as esbuild writes it without bundling (types stripped,
 * declarations at the top level, one `export { local as name }` list at the
 * end). Returns the first such export and what it is, or undefined. An
 * export it cannot decide is taken as a function: the server's own check at
 * patch time has the last word.
 */
export function refusedExport(js: string): { name: string; kind: string } | undefined {
  const declared = new Map<string, string>();
  for (const [, local, expr] of js.matchAll(/^(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=([^\n]*)/gm)) declared.set(local!, expr!);
  for (const [, list] of js.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const item of list!.split(',').map((i) => i.trim()).filter(Boolean)) {
      const [local, name = local] = item.split(/\s+as\s+/).map((x) => x.trim().replace(/^["']|["']$/g, ''));
      if (name === 'migrations') continue;
      const expr = declared.get(local!);
      const kind = expr === undefined ? undefined : literalKind(expr);
      if (kind) return { name: name!, kind };
    }
  }
  // Declarations exported in place (export const x = 5), in case the output keeps them.
  for (const [, name, expr] of js.matchAll(/^export\s+(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=([^\n]*)/gm)) {
    const kind = name === 'migrations' ? undefined : literalKind(expr!);
    if (kind) return { name: name!, kind };
  }
  const byDefault = /^export\s+default\s+([^\n]*)/m.exec(js);
  const kind = byDefault ? literalKind(byDefault[1]!) : undefined;
  return kind ? { name: 'default', kind } : undefined;
}

export function typesFileText(root: string, modules: ModuleHandlers[]): string {
  const lines: string[] = [];
  for (const m of [...modules].sort((a, b) => a.module.localeCompare(b.module))) {
    let rel = path.relative(root, m.file).split(path.sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    // Names and paths as JSON string literals: a module may be called `it's`, an export `"a-b"`.
    for (const handler of [...m.handlers].sort()) {
      lines.push(`  ${JSON.stringify(`${m.module}.${handler}`)}: typeof import(${JSON.stringify(rel)})[${JSON.stringify(handler)}];`);
    }
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
