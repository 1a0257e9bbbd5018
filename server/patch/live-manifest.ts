import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Plan } from './activation.ts';
import type { ModuleVersion } from './bindings.ts';
import { relativeToRoot, type Artifact, type ProjectPaths } from './build.ts';
import { hashInputs } from './changes.ts';
import { MANIFEST_FORMAT, type LiveCodeStore, type Manifest, type SavedBuild } from './live-code.ts';
import { discoverModules } from './modules.ts';
import { artifactFromText } from './shipped.ts';

// Between the engine's memory (live versions, the builds kept for rollback)
// and the manifest in the data folder: what to write after a patch, what to
// activate at a restart, and where the files on disk differ from what runs.

/** A build the engine keeps for rollback. */
export interface Kept {
  artifact: Artifact;
  /** Absolute source paths and their content hashes when it was built. */
  inputs: Map<string, string>;
  /** The url its source map was registered under while it was live ('' if it never was in this process). */
  url: string;
  /** Of a build shipped from another process's folder: the state/ folder it was built against (see Plan). */
  builtAgainst?: string;
}

/** How a live module compares with its files on disk. */
export type DiskState = 'same' | 'differs' | 'missing';

export interface Drift {
  modules: Record<string, DiskState>;
  /** Module files on disk that are not live (added while the server was down, or left out). */
  notLive: string[];
}

function savedBuild(root: string, kept: Kept): SavedBuild {
  const inputs: Record<string, string> = {};
  for (const [file, hash] of kept.inputs) inputs[relativeToRoot(root, file)] = hash;
  return { hash: kept.artifact.hash, inputs };
}

export function buildManifest(paths: ProjectPaths, live: ReadonlyMap<string, ModuleVersion>, kept: ReadonlyMap<string, Kept[]>, lastVersion: ReadonlyMap<string, number>): Manifest {
  const modules: Manifest['modules'] = {};
  for (const version of live.values()) {
    const stack = kept.get(version.module) ?? [];
    const top = stack.at(-1);
    if (!top || top.artifact.hash !== version.hash) continue; // cannot happen: every live version is kept
    modules[version.module] = {
      module: version.module,
      version: version.version,
      file: relativeToRoot(paths.root, version.file),
      ...savedBuild(paths.root, top),
      previous: stack.slice(0, -1).map((k) => savedBuild(paths.root, k)),
    };
  }
  return { format: MANIFEST_FORMAT, savedAt: new Date().toISOString(), lastVersion: Object.fromEntries(lastVersion), modules };
}

function artifactOf(store: LiveCodeStore, paths: ProjectPaths, module: string, build: SavedBuild, warnings: string[]): { artifact: Artifact; inputs: Map<string, string> } {
  const { code, map, mapLost } = store.readBuild(module, build.hash);
  if (mapLost) warnings.push(`the source map of ${module} (${build.hash.slice(0, 8)}) in the saved live code is missing: it runs without one (its errors name the bundle, not logic/)`);
  return artifactFromText(paths, module, build.hash, code, map, build.inputs);
}

/**
 * The plans that bring the manifest's versions back, and the builds to keep for rollback. Damage to what does not
 * run does not stop a start: a rollback target that cannot be read is dropped, a lost source map replaced by an
 * empty one, each with a warning. `liveToo` (--from-disk, where nothing saved runs): an unreadable live build is
 * dropped as well, instead of throwing LIVE_CODE_DAMAGED.
 */
export function restorePlans(store: LiveCodeStore, paths: ProjectPaths, manifest: Manifest, liveToo = false): { plans: Plan[]; kept: Map<string, Kept[]>; warnings: string[] } {
  const plans: Plan[] = [];
  const kept = new Map<string, Kept[]>();
  const warnings: string[] = [];
  const readable = (module: string, build: SavedBuild, role: string) => {
    try {
      return artifactOf(store, paths, module, build, warnings);
    } catch (err) {
      warnings.push(`${(err as Error).message.replace(/\. Start with --from-disk.*$/, '')}; ${role} is dropped`);
      return undefined;
    }
  };
  for (const entry of Object.values(manifest.modules)) {
    const stack: Kept[] = [];
    for (const build of entry.previous) {
      const previous = readable(entry.module, build, `that rollback target of ${entry.module}`);
      if (previous) stack.push({ ...previous, url: '' });
    }
    const current = liveToo ? readable(entry.module, entry, `the saved build of ${entry.module}`) : artifactOf(store, paths, entry.module, entry, warnings);
    if (current) stack.push({ ...current, url: '' });
    kept.set(entry.module, stack);
    if (current) plans.push({ module: entry.module, file: path.resolve(paths.root, entry.file), ...current });
  }
  return { plans, kept, warnings };
}

export function driftOf(paths: ProjectPaths, live: ReadonlyMap<string, ModuleVersion>, kept: ReadonlyMap<string, Kept[]>): Drift {
  const modules: Record<string, DiskState> = {};
  for (const version of live.values()) {
    if (!existsSync(version.file)) {
      modules[version.module] = 'missing';
      continue;
    }
    const inputs = kept.get(version.module)?.at(-1)?.inputs;
    let same = inputs !== undefined;
    if (inputs) for (const [file, hash] of hashInputs([...inputs.keys()])) if (inputs.get(file) !== hash) same = false;
    modules[version.module] = same ? 'same' : 'differs';
  }
  const notLive = [...discoverModules(paths.logicDir).keys()].filter((m) => !live.has(m)).sort();
  return { modules, notLive };
}

/** One line per module whose disk differs, as the log and the CLI say it: "arena: live v4 a40eb6, disk differs". */
export function driftLines(live: ReadonlyMap<string, ModuleVersion>, drift: Drift): string[] {
  const lines: string[] = [];
  for (const [module, state] of Object.entries(drift.modules)) {
    if (state === 'same') continue;
    const v = live.get(module);
    lines.push(`${module}: live v${v?.version ?? '?'} ${v?.hash.slice(0, 6) ?? ''}, ${state === 'missing' ? 'file missing on disk' : 'disk differs'}`);
  }
  for (const module of drift.notLive) lines.push(`${module}: on disk, not live`);
  return lines;
}
