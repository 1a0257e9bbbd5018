import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

// A module is a .ts file under logic/, outside logic/lib/. Its name is its
// path under logic/ without the extension: `chat`, `combat/melee`.

export const MODULE_NAME = /^[a-z_][\w-]*(\/[a-z_][\w-]*)*$/i;

function isSourceFile(name: string): boolean {
  return name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts');
}

function walk(dir: string, out: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.startsWith('.') || entry === 'node_modules') continue;
    const full = path.join(dir, entry);
    const stat = statSync(full, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) walk(full, out);
    else if (isSourceFile(entry)) out.push(full);
  }
}

/** Every source file below `dir`, absolute. */
export function listSourceFiles(dir: string): string[] {
  const out: string[] = [];
  walk(dir, out);
  return out.sort();
}

export function isModuleFile(logicDir: string, file: string): boolean {
  const rel = path.relative(logicDir, file).split(path.sep).join('/');
  return !rel.startsWith('..') && !rel.startsWith('lib/') && isSourceFile(rel);
}

export function moduleName(logicDir: string, file: string): string {
  return path.relative(logicDir, file).split(path.sep).join('/').replace(/\.ts$/, '');
}

/** Module name to absolute file, for every module now on disk. */
export function discoverModules(logicDir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of listSourceFiles(logicDir)) {
    if (isModuleFile(logicDir, file)) found.set(moduleName(logicDir, file), file);
  }
  return found;
}
