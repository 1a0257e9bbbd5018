import { readFileSync } from 'node:fs';
import { isClientHandler, type Handler, type Migrations } from '../api.ts';
import { rebindError, type SourceLocation } from '../errors.ts';
import type { Artifact } from './build.ts';
import type { TrackedTimers } from './evaluate.ts';
import type { CallStats } from '../metrics/call-stats.ts';

// The binding table maps every handler name (`chat.say`) to the function of
// the module version that is live now. Callers look names up at the moment
// of the call, so once a patch swaps the table, no call can reach old code.

type Lifecycle = (ctx: never, ...args: never[]) => unknown;

/** One evaluated version of a module. */
export interface ModuleVersion {
  module: string;
  version: number;
  hash: string;
  /** Absolute path of the module's entry file. */
  file: string;
  /** The file name its code was compiled under (stack frames show it). */
  url: string;
  artifact: Artifact;
  handlers: Map<string, Handler>;
  publicHandlers: Set<string>;
  init?: Lifecycle;
  dispose?: Lifecycle;
  tick?: Lifecycle;
  migrations?: Migrations;
  timers: TrackedTimers;
  activatedAt: number;
}

export interface Binding {
  name: string;
  fn: Handler;
  public: boolean;
  module: ModuleVersion;
  /** This handler's calls in this version (metrics/call-stats.ts), found once and kept here so a call needs no lookup. */
  stats?: CallStats;
}

export function exportLocation(file: string, rel: string, name: string): SourceLocation | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pattern = new RegExp(`export\\s+(?:(?:async\\s+)?function\\*?|const|let|var|class)\\s+${name}\\b|export\\s*\\{[^}]*\\b${name}\\b`);
  for (let i = 0; i < lines.length; i++) {
    const match = pattern.exec(lines[i]!);
    if (match) return { file: rel, line: i + 1, column: match.index + 1, lineText: lines[i]! };
  }
  return { file: rel, line: 1, column: 1 };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Sorts a module's exports into lifecycle hooks and handlers, refusing
 * anything else: state belongs in stores, not in a module that is replaced.
 */
export function readExports(exports: Record<string, unknown>, base: Omit<ModuleVersion, 'handlers' | 'publicHandlers'>, rel: string): ModuleVersion {
  const version: ModuleVersion = { ...base, handlers: new Map(), publicHandlers: new Set() };
  for (const key of Object.keys(exports)) {
    const value = exports[key];
    const bad = (why: string): never => {
      const location = exportLocation(base.file, rel, key);
      throw rebindError('PATCH_BAD_EXPORT', `${location ? `${location.file}:${location.line}:${location.column}` : rel}: export "${key}" ${why}`, {
        ...(location ? { location } : {}),
        details: { module: base.module, export: key },
      });
    };
    if (key === 'migrations') {
      if (typeof value !== 'object' || value === null) bad(`must be an object of migrations by store name, not ${describe(value)}`);
      version.migrations = value as Migrations;
      continue;
    }
    if (typeof value !== 'function') {
      bad(`is ${describe(value)}; a logic module exports only functions (keep data in a store under state/)`);
    }
    if (key === 'init' || key === 'dispose' || key === 'tick') {
      version[key] = value as Lifecycle;
      continue;
    }
    version.handlers.set(key, value as Handler);
    if (isClientHandler(value)) version.publicHandlers.add(key);
  }
  return version;
}

function* bindingsOf(version: ModuleVersion): Generator<Binding> {
  for (const [handler, fn] of version.handlers) {
    yield { name: `${version.module}.${handler}`, fn, public: version.publicHandlers.has(handler), module: version };
  }
}

/**
 * Where a player falls in [0, 1): FNV-1a of the id, so the same player always lands on the same side of a canary,
 * then murmur3's fmix32 so every bit of the id reaches the top bits (plain FNV-1a's top bits skew for sequential ids
 * such as p-c0, p-c1, ...: a 10% canary served 1.3% of p-c0..p-c299).
 */
export function canaryPoint(player: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < player.length; i++) h = Math.imul(h ^ player.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** A canary: new versions that serve only the players whose point is under `share`. */
export interface Canary {
  share: number;
  versions: Map<string, ModuleVersion>;
  bindings: Map<string, Binding>;
}

export class BindingTable {
  private readonly bindings = new Map<string, Binding>();
  /** Module name to its live version. */
  readonly live = new Map<string, ModuleVersion>();
  /** Both versions live at once: during a canary, its players' calls go to the new versions (see resolveFor). */
  canary: Canary | undefined;

  /** While a patch runs init and migrations: the incoming versions, seen before they are live. */
  private incoming: { bindings: Map<string, Binding>; modules: Set<string> } | undefined;

  /** The binding a call by `player` reaches: the canary's for players in its share, else the live one. */
  resolveFor(name: string, player: string | null): Binding | undefined {
    const canary = this.canary;
    if (canary && player !== null && !this.incoming) {
      const dot = name.lastIndexOf('.');
      if (dot > 0 && canary.versions.has(name.slice(0, dot)) && canaryPoint(player) < canary.share) return canary.bindings.get(name);
    }
    return this.resolve(name);
  }

  /** Puts new versions beside the live ones, for a share of the players. */
  startCanary(versions: readonly ModuleVersion[], share: number): void {
    const bindings = new Map<string, Binding>();
    for (const version of versions) for (const binding of bindingsOf(version)) bindings.set(binding.name, binding);
    this.canary = { share, versions: new Map(versions.map((v) => [v.module, v])), bindings };
  }

  /** Ends the canary: its versions serve nobody any more. Returns them. */
  endCanary(): ModuleVersion[] {
    const versions = [...(this.canary?.versions.values() ?? [])];
    this.canary = undefined;
    return versions;
  }

  resolve(name: string): Binding | undefined {
    if (this.incoming) {
      const staged = this.incoming.bindings.get(name);
      if (staged) return staged;
      const dot = name.lastIndexOf('.');
      if (dot > 0 && this.incoming.modules.has(name.slice(0, dot))) return undefined;
    }
    return this.bindings.get(name);
  }

  /**
   * Runs `fn` with the incoming versions (and removals) visible to resolve(),
   * so that an init may call handlers of other modules of the same patch.
   */
  withIncoming<T>(activate: readonly ModuleVersion[], remove: readonly string[], fn: () => T): T {
    const bindings = new Map<string, Binding>();
    for (const version of activate) for (const binding of bindingsOf(version)) bindings.set(binding.name, binding);
    this.incoming = { bindings, modules: new Set([...activate.map((v) => v.module), ...remove]) };
    try {
      return fn();
    } finally {
      this.incoming = undefined;
    }
  }

  names(): string[] {
    return [...this.bindings.keys()];
  }

  /**
   * Unbinds the old versions of the given modules and binds the new ones, in
   * one synchronous step. Returns the versions that were replaced or removed.
   */
  swap(activate: readonly ModuleVersion[], remove: readonly string[]): ModuleVersion[] {
    const replaced: ModuleVersion[] = [];
    for (const name of [...activate.map((v) => v.module), ...remove]) {
      const old = this.live.get(name);
      if (!old) continue;
      replaced.push(old);
      for (const handler of old.handlers.keys()) this.bindings.delete(`${name}.${handler}`);
      this.live.delete(name);
    }
    for (const version of activate) {
      this.live.set(version.module, version);
      for (const binding of bindingsOf(version)) this.bindings.set(binding.name, binding);
    }
    return replaced;
  }
}
