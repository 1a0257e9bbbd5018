import { readFileSync } from 'node:fs';
import path from 'node:path';

// The package-lock.json of a new game, cut out of the engine's own: the game's
// tools (typescript, vitest, @types/node, tsx) at exactly the versions, layout and
// integrity hashes the engine installed, and rebind as a link to the engine's
// folder. With it `npm install` needs no package metadata from the registry:
// every tarball is found in npm's cache by its integrity hash, where the
// engine's own install put it. Without a lockfile npm must ask the registry
// for each package's versions first (ENOTCACHED offline on a machine whose
// cache holds only tarballs, which is what `npm ci` leaves).

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/** Where Node finds `name` from the package at `from` (a lockfile key): its own node_modules, then each parent's. */
function resolve(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  for (let at = from; ; ) {
    const key = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (packages[key]) return key;
    if (!at) return undefined;
    const up = at.lastIndexOf('/node_modules/');
    at = up === -1 ? '' : at.slice(0, up);
  }
}

/**
 * Where the registry keeps a package's tarball. npm finds a tarball in its
 * cache by the integrity hash, but only once it knows the tarball's address:
 * an entry without `resolved` (the engine's lockfile may omit them) makes it
 * ask the registry for the package's metadata first. npm swaps this host for
 * the configured registry's (its replace-registry-host setting).
 */
function tarballUrl(key: string, entry: LockEntry): string {
  const name = typeof entry.name === 'string' ? entry.name : key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
  return `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
}

export interface GameLockInput {
  engine: string;
  name: string;
  /** The dependency on the engine, e.g. file:../rebind. */
  engineSpec: string;
  devDependencies: Record<string, string>;
}

/**
 * The lockfile text, or undefined when the engine has no usable lockfile or
 * lacks one of the tools at the version asked (then `npm install` resolves
 * them from the registry as usual).
 */
export function gameLockfile(input: GameLockInput): string | undefined {
  let engineLock: Lockfile;
  try {
    engineLock = JSON.parse(readFileSync(path.join(input.engine, 'package-lock.json'), 'utf8')) as Lockfile;
  } catch {
    return undefined;
  }
  const all = engineLock.packages;
  if (engineLock.lockfileVersion < 2 || !all?.['']) return undefined;
  // Every package the tools need, and whether some path to it is not optional.
  const required = new Map<string, boolean>();
  const queue: Array<[string, boolean]> = [];
  for (const [name, version] of Object.entries(input.devDependencies)) {
    const key = `node_modules/${name}`;
    if (all[key]?.version !== version) return undefined;
    queue.push([key, true]);
  }
  while (queue.length > 0) {
    const [key, needed] = queue.pop()!;
    if (required.has(key) && (required.get(key) || !needed)) continue;
    required.set(key, needed);
    const entry = all[key]!;
    const edges: Array<[string, boolean]> = [
      ...Object.keys(entry.dependencies ?? {}).map((n): [string, boolean] => [n, true]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n): [string, boolean] => [n, false]),
      // npm installs a peer unless its meta says optional.
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((n) => !entry.peerDependenciesMeta?.[n]?.optional)
        .map((n): [string, boolean] => [n, true]),
    ];
    for (const [dep, hard] of edges) {
      const found = resolve(all, key, dep);
      // A missing optional package is one for another platform that npm left out: so does the game.
      if (found) queue.push([found, needed && hard]);
      else if (hard) return undefined;
    }
  }
  const link = input.engineSpec.replace(/^file:/, '');
  const packages: Record<string, LockEntry> = {
    '': { name: input.name, version: '0.1.0', dependencies: { rebind: input.engineSpec }, devDependencies: input.devDependencies },
    [link]: all['']!,
  };
  for (const key of [...required.keys()].sort()) {
    const { dev: _dev, optional: _optional, devOptional: _devOptional, peer: _peer, ...entry } = all[key]!;
    packages[key] = { ...entry, resolved: entry.resolved ?? tarballUrl(key, entry), dev: true, ...(required.get(key) ? {} : { optional: true }) };
  }
  packages['node_modules/rebind'] = { resolved: link, link: true };
  const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
  return JSON.stringify({ name: input.name, version: '0.1.0', lockfileVersion: 3, requires: true, packages: sorted }, null, 2) + '\n';
}
