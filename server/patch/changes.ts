import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rebindError } from '../errors.ts';
import { hashText, relativeToRoot, type ProjectPaths } from './build.ts';
import type { ModuleVersion } from './bindings.ts';
import type { PatchRequest } from './engine.ts';

// Which modules a patch rebuilds: the ones named; or every module that
// includes a changed file; or, asked for nothing in particular, every module
// whose sources differ (by content hash) from the ones it was last built from.
// Exactly those, never the whole folder.

export function hashInputs(files: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of files) {
    try {
      out.set(file, hashText(readFileSync(file, 'utf8')));
    } catch {
      out.set(file, 'missing');
    }
  }
  return out;
}

type InputsOf = (module: string) => Map<string, string> | undefined;

function sourcesChanged(inputs: Map<string, string> | undefined): boolean {
  if (!inputs) return true;
  for (const [file, hash] of hashInputs([...inputs.keys()])) if (inputs.get(file) !== hash) return true;
  return false;
}

function includesAny(inputs: Map<string, string> | undefined, files: Set<string>): boolean {
  if (!inputs) return false;
  for (const file of inputs.keys()) if (files.has(file)) return true;
  return false;
}

export function selectTargets(
  request: PatchRequest,
  onDisk: Map<string, string>,
  live: Map<string, ModuleVersion>,
  paths: ProjectPaths,
  inputsOf: InputsOf,
): { targets: string[]; removals: string[] } {
  if (request.modules && request.modules.length > 0) {
    for (const name of request.modules) {
      if (!onDisk.has(name) && !live.has(name)) {
        throw rebindError('UNKNOWN_MODULE', `no module named "${name}" (no file ${relativeToRoot(paths.root, path.join(paths.logicDir, name + '.ts'))})`);
      }
    }
    return { targets: request.modules.filter((m) => onDisk.has(m)), removals: request.modules.filter((m) => !onDisk.has(m)) };
  }
  const removals = [...live.keys()].filter((m) => !onDisk.has(m));
  if (request.files) {
    const changed = new Set(request.files.map((f) => path.resolve(f)));
    const targets = [...onDisk].filter(([name, file]) => changed.has(file) || !live.has(name) || includesAny(inputsOf(name), changed)).map(([name]) => name);
    return { targets, removals };
  }
  return { targets: [...onDisk.keys()].filter((name) => !live.has(name) || sourcesChanged(inputsOf(name))), removals };
}
