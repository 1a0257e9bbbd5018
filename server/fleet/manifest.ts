import { pack, unpack } from 'msgpackr';
import { rebindError } from '../errors.ts';
import { hashText } from '../patch/build.ts';
import { KEEP_VERSIONS } from '../patch/kept-builds.ts';
import { MANIFEST_FORMAT, type Manifest, type SavedBuild } from '../patch/live-code.ts';
import { MODULE_NAME } from '../patch/modules.ts';
import type { Decision, ShippedPatch } from '../patch/prepared.ts';
import type { ShippedBuild } from '../patch/shipped.ts';
import type { FleetNode } from './node.ts';

// The fleet's live code, in Redis: the same manifest a node keeps in
// data/code/manifest.json, and every build it names, by module and content
// hash. A node that starts or comes back loads this, not its own disk. Beside
// it, one decision record per fleet patch: the first of "commit" (the
// coordinator, together with the new manifest, in one atomic step) or "abort"
// (the coordinator, or a prepared node that waited too long) to be written
// wins, and everyone follows it.
//
//   rebind:code:manifest                  the manifest (JSON)
//   rebind:code:build:<module>:<hash>     {code, map} (MessagePack)
//   rebind:patch:<id>:decision            "commit" | "abort", kept an hour
//   rebind:patch:lock                     the id of the fleet patch under way

const DECISION_KEPT_MS = 3_600_000;

/** SET the decision if none was set; on commit also the new manifest, in the same step. Returns the decision that stands. */
const DECIDE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
  return ARGV[1]
end
return redis.call('GET', KEYS[1])`;

/** Frees the lock only if it is still this patch's. */
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class FleetCode {
  constructor(private readonly node: FleetNode) {}

  private get manifestKey(): string {
    return this.node.key('code', 'manifest');
  }

  private buildKey(module: string, hash: string): string {
    return this.node.key('code', 'build', module, hash);
  }

  /** The fleet's manifest, or undefined before any node has written one. LIVE_CODE_DAMAGED if it is not one. */
  async manifest(): Promise<Manifest | undefined> {
    const text = await this.node.redis.run((r) => r.get(this.manifestKey));
    if (text === null) return undefined;
    return parseManifest(text);
  }

  /** Makes `manifest` the fleet's (a canary promoted everywhere). */
  async setManifest(manifest: Manifest): Promise<void> {
    await this.node.redis.run((r) => r.set(this.manifestKey, JSON.stringify(manifest)));
  }

  /** Makes `manifest` the fleet's unless there is one already (the first node of a fleet); returns whether it did. */
  async seed(manifest: Manifest, builds: readonly ShippedBuild[]): Promise<boolean> {
    await this.saveBuilds(builds);
    return (await this.node.redis.run((r) => r.set(this.manifestKey, JSON.stringify(manifest), 'NX'))) === 'OK';
  }

  async saveBuilds(builds: readonly ShippedBuild[]): Promise<void> {
    if (builds.length === 0) return;
    await this.node.redis.run((r) => {
      const multi = r.multi();
      for (const b of builds) multi.set(this.buildKey(b.module, b.hash), pack({ code: b.code, map: b.map, stateDir: b.stateDir }));
      return multi.exec();
    });
  }

  /** The builds the manifest names for `modules` (their live build), checked against their hashes. */
  async builds(manifest: Manifest, modules: readonly string[]): Promise<ShippedBuild[]> {
    return this.read(modules.map((m) => ({ module: m, file: manifest.modules[m]!.file, build: manifest.modules[m]! })));
  }

  /** The build each module of the manifest had before its live one (a fleet rollback ships these). */
  async previousBuilds(manifest: Manifest, modules: readonly string[]): Promise<ShippedBuild[]> {
    return this.read(
      modules.map((m) => {
        const entry = manifest.modules[m];
        if (!entry) throw rebindError('UNKNOWN_MODULE', `no module named "${m}" in the fleet's live code`);
        const build = entry.previous.at(-1);
        if (!build) throw rebindError('NO_ROLLBACK', `${m} has no previous version to roll back to in the fleet's live code`);
        return { module: m, file: entry.file, build };
      }),
    );
  }

  private async read(wanted: Array<{ module: string; file: string; build: SavedBuild }>): Promise<ShippedBuild[]> {
    if (wanted.length === 0) return [];
    const values = await this.node.redis.run((r) => r.mgetBuffer(...wanted.map((w) => this.buildKey(w.module, w.build.hash))));
    return wanted.map(({ module, file, build }, i) => {
      const value = values[i];
      const files = value ? (unpack(value) as { code?: unknown; map?: unknown; stateDir?: unknown }) : undefined;
      if (typeof files?.code !== 'string' || typeof files.map !== 'string' || hashText(files.code) !== build.hash) {
        throw rebindError('LIVE_CODE_DAMAGED', `the fleet's build of ${module} (${build.hash.slice(0, 8)}) is ${value ? 'damaged' : 'missing'} in Redis`, { details: { module } });
      }
      return { module, file, hash: build.hash, code: files.code, map: files.map, inputs: build.inputs, stateDir: typeof files.stateDir === 'string' ? files.stateDir : '' };
    });
  }

  /** Removes the builds `before` named and `after` does not (left behind by a rollback, or older than the kept ones). */
  async prune(before: Manifest, after: Manifest): Promise<void> {
    const kept = new Set(Object.values(after.modules).flatMap((e) => [e, ...e.previous].map((b) => this.buildKey(e.module, b.hash))));
    const gone = Object.values(before.modules).flatMap((e) => [e, ...e.previous].map((b) => this.buildKey(e.module, b.hash))).filter((key) => !kept.has(key));
    if (gone.length > 0) await this.node.redis.run((r) => r.del(...gone));
  }

  /** The decision about fleet patch `id`, if one was made. */
  async decision(id: string): Promise<Decision | undefined> {
    const value = await this.node.redis.run((r) => r.get(this.decisionKey(id)));
    return value === 'commit' || value === 'abort' ? value : undefined;
  }

  /** Records `decision` unless one stands already (then that one is returned); a commit makes `manifest` the fleet's in the same step. */
  async decide(id: string, decision: Decision, manifest?: Manifest): Promise<Decision> {
    const text = decision === 'commit' && manifest ? JSON.stringify(manifest) : '';
    const result = await this.node.redis.run((r) => r.eval(DECIDE, 2, this.decisionKey(id), this.manifestKey, decision, String(DECISION_KEPT_MS), text));
    return result === 'commit' ? 'commit' : 'abort';
  }

  private decisionKey(id: string): string {
    return this.node.key('patch', id, 'decision');
  }

  /** One fleet patch at a time: true if `id` holds the lock now (it expires after `ms`, should its holder die). */
  async lock(id: string, ms: number): Promise<boolean> {
    return (await this.node.redis.run((r) => r.set(this.node.key('patch', 'lock'), id, 'PX', ms, 'NX'))) === 'OK';
  }

  async unlock(id: string): Promise<void> {
    await this.node.redis.run((r) => r.eval(UNLOCK, 1, this.node.key('patch', 'lock'), id));
  }

  /** Who holds the lock, if anyone. */
  async lockHolder(): Promise<string | null> {
    return this.node.redis.run((r) => r.get(this.node.key('patch', 'lock')));
  }
}

export function parseManifest(text: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch (err) {
    throw rebindError('LIVE_CODE_DAMAGED', `the fleet's manifest in Redis is not valid JSON (${(err as Error).message})`);
  }
  if (manifest?.format !== MANIFEST_FORMAT || typeof manifest.modules !== 'object' || manifest.modules === null) {
    throw rebindError('LIVE_CODE_DAMAGED', `the fleet's manifest in Redis has an unknown format (expected format ${MANIFEST_FORMAT})`);
  }
  for (const [name, entry] of Object.entries(manifest.modules)) {
    if (!MODULE_NAME.test(name) || entry?.module !== name || !Number.isInteger(entry.version) || typeof entry.hash !== 'string' || !Array.isArray(entry.previous)) {
      throw rebindError('LIVE_CODE_DAMAGED', `the fleet's manifest in Redis has a bad entry for module "${name}"`);
    }
  }
  return manifest;
}

/**
 * The manifest once `shipped` is committed, as every node's own data folder will then say: a patch pushes the
 * live build onto the kept ones; a rollback goes back to the kept build it ships; a removal drops the module.
 */
export function nextManifest(base: Manifest, shipped: ShippedPatch): Manifest {
  const modules: Manifest['modules'] = { ...base.modules };
  const lastVersion = { ...base.lastVersion };
  for (const build of shipped.builds) {
    const old = modules[build.module];
    if (old?.hash === build.hash) continue;
    const version = shipped.versions[build.module] ?? (lastVersion[build.module] ?? 0) + 1;
    let previous: SavedBuild[];
    if (!old) previous = [];
    else if (shipped.kind !== 'patch' && old.previous.at(-1)?.hash === build.hash) previous = old.previous.slice(0, -1);
    else previous = [...old.previous, { hash: old.hash, inputs: old.inputs }].slice(-(KEEP_VERSIONS - 1));
    modules[build.module] = { module: build.module, version, file: build.file, hash: build.hash, inputs: build.inputs, previous };
    lastVersion[build.module] = Math.max(version, lastVersion[build.module] ?? 0);
  }
  for (const module of shipped.removals) delete modules[module];
  return { format: MANIFEST_FORMAT, savedAt: new Date().toISOString(), lastVersion, modules };
}
