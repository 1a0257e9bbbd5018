import * as fs from 'node:fs';
import path from 'node:path';
import { rebindError } from '../errors.ts';
import { realDisk, type Disk } from '../store/io.ts';
import { hashText } from './build.ts';
import { MODULE_NAME } from './modules.ts';

// The code that is live is data, kept in the data folder like the stores, so
// that a restart comes back on exactly that code (a rollback included)
// instead of whatever logic/ holds by then. Layout, under <data>/code/:
//
//   builds/<module>/<hash>.js      the bundle, named by the sha256 of its text
//   builds/<module>/<hash>.js.map  its source map
//   manifest.json                  which build of each module is live, its
//                                  version, the sources it was built from, and
//                                  the builds kept for rollback
//
// Builds are written before the manifest that names them, and every file is
// written atomically (temporary file, fsync, rename, fsync of the folder), so
// a crash at any point leaves the previous manifest with all of its builds.
// Builds no manifest names any more are removed after the manifest is durable.

export const MANIFEST_FORMAT = 1;

export interface SavedBuild {
  hash: string;
  /** Source files (relative to the project root) and their content hashes when it was built. */
  inputs: Record<string, string>;
}

export interface SavedModule extends SavedBuild {
  module: string;
  version: number;
  /** The module's file, relative to the project root. */
  file: string;
  /** Builds kept for rollback, oldest first (the live one not included). */
  previous: SavedBuild[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  savedAt: string;
  /** The highest version number each module has had, so numbers never repeat across restarts. */
  lastVersion: Record<string, number>;
  modules: Record<string, SavedModule>;
}

export interface BuildFiles {
  code: string;
  map: string;
}

/** A source map that maps nothing: what a build whose .js.map is lost runs with (its stacks then name the bundle, not logic/). */
export const EMPTY_SOURCE_MAP = '{"version":3,"sources":[],"names":[],"mappings":""}';


export class LiveCodeStore {
  readonly dir: string;
  private readonly identity: string;

  constructor(
    /** The data folder; the code goes in its code/ subfolder. */
    readonly dataDir: string,
    private readonly disk: Disk = realDisk,
  ) {
    this.dir = path.join(dataDir, 'code');
    // Created first: the identity of a folder that is not there yet is 'gone', and every save would then be refused.
    disk.mkdirSync(path.join(this.dir, 'builds'));
    this.identity = folderIdentity(dataDir);
  }

  get manifestFile(): string {
    return path.join(this.dir, 'manifest.json');
  }

  /** The manifest of the last run, or undefined on a first start. Throws LIVE_CODE_DAMAGED if it cannot be read. */
  loadManifest(): Manifest | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.manifestFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // A first start has no code/ to speak of; builds or a patch history without the manifest are an earlier run's, and starting over would reuse its version numbers.
        const left = this.leftByEarlierRun();
        if (left.length === 0) return undefined;
        throw damaged(`${this.manifestFile} is missing, but ${left.join(' and ')} from an earlier run ${left.length > 1 ? 'are' : 'is'} there`);
      }
      throw damaged(`${this.manifestFile} cannot be read (${(err as Error).message})`);
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(text) as Manifest;
    } catch (err) {
      throw damaged(`${this.manifestFile} is not valid JSON (${(err as Error).message})`);
    }
    if (manifest?.format !== MANIFEST_FORMAT || typeof manifest.modules !== 'object' || manifest.modules === null) {
      throw damaged(`${this.manifestFile} has an unknown format (expected format ${MANIFEST_FORMAT})`);
    }
    for (const [name, entry] of Object.entries(manifest.modules)) {
      if (!MODULE_NAME.test(name) || entry.module !== name || !Number.isInteger(entry.version) || typeof entry.hash !== 'string') {
        throw damaged(`${this.manifestFile} has a bad entry for module "${name}"`);
      }
    }
    return manifest;
  }

  /** What of an earlier run's live code is in code/ besides the manifest: builds, a patch history. */
  private leftByEarlierRun(): string[] {
    const left: string[] = [];
    if (!walk(path.join(this.dir, 'builds')).next().done) left.push(`builds in ${path.join(this.dir, 'builds')}`);
    const history = ['history.jsonl', 'history.1.jsonl'].map((f) => path.join(this.dir, f)).filter((f) => (fs.statSync(f, { throwIfNoEntry: false })?.size ?? 0) > 0);
    if (history.length > 0) left.push(`the patch history ${history.join(', ')}`);
    return left;
  }

  /**
   * Reads a build and checks that its text still has the hash it is named by. A lost source map does not stop it:
   * the code runs with an empty map, and `mapLost` says so (the caller warns).
   */
  readBuild(module: string, hash: string): BuildFiles & { mapLost?: true } {
    const base = this.buildBase(module, hash);
    let code: string;
    try {
      code = fs.readFileSync(base + '.js', 'utf8');
    } catch (err) {
      throw damaged(`the build of ${module} (${hash.slice(0, 8)}) named by the manifest cannot be read (${(err as Error).message})`);
    }
    if (hashText(code) !== hash) throw damaged(`the build of ${module} in ${base}.js does not match its hash ${hash.slice(0, 8)}`);
    try {
      return { code, map: fs.readFileSync(base + '.js.map', 'utf8') };
    } catch {
      return { code, map: EMPTY_SOURCE_MAP, mapLost: true };
    }
  }

  /** Stores a build unless it is there already (builds are named by their content). */
  saveBuild(module: string, hash: string, files: BuildFiles): void {
    if (!MODULE_NAME.test(module)) throw rebindError('BAD_MODULE_NAME', `the module name ${JSON.stringify(module)} cannot be saved as live code`);
    const base = this.buildBase(module, hash);
    if (fs.existsSync(base + '.js') && fs.existsSync(base + '.js.map')) return;
    this.check();
    this.disk.mkdirSync(path.dirname(base));
    this.writeAtomically(base + '.js.map', files.map);
    this.writeAtomically(base + '.js', files.code);
  }

  /** Makes `manifest` the live one, then removes the builds that no manifest names any more. */
  saveManifest(manifest: Manifest): void {
    this.check();
    this.writeAtomically(this.manifestFile, JSON.stringify(manifest, null, 1) + '\n');
    this.prune(manifest);
  }

  private prune(manifest: Manifest): void {
    const wanted = new Set<string>();
    for (const entry of Object.values(manifest.modules)) {
      for (const build of [entry, ...entry.previous]) wanted.add(this.buildBase(entry.module, build.hash));
    }
    const buildsDir = path.join(this.dir, 'builds');
    for (const file of walk(buildsDir)) {
      const base = file.replace(/\.js(\.map)?$/, '');
      if (wanted.has(base)) continue;
      try {
        this.disk.unlinkSync(file);
      } catch {
        // A build left behind costs only disk space; the next save tries again.
      }
    }
  }

  private buildBase(module: string, hash: string): string {
    if (!MODULE_NAME.test(module) || !/^[0-9a-f]{64}$/.test(hash)) throw damaged(`bad module name or hash in the live code: ${module} ${hash}`);
    return path.join(this.dir, 'builds', ...module.split('/'), hash);
  }

  /** Temporary file, fsync, rename, fsync of the folder: a crash leaves the old file or the new one. */
  private writeAtomically(file: string, text: string): void {
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      this.disk.unlinkSync(tmp);
    } catch {
      // Usually not there; one left by a crash of this pid is replaced.
    }
    this.disk.writeFileSync(tmp, Buffer.from(text, 'utf8'));
    this.disk.renameSync(tmp, file);
    this.disk.syncDirSync(path.dirname(file));
  }

  /** The same rule as the data lock: a folder moved away and replaced is not ours to write. */
  check(): void {
    if (folderIdentity(this.dataDir) !== this.identity) {
      throw rebindError('DATA_LOCKED', `the data folder ${this.dataDir} was moved, removed or replaced while this server ran; the live code is not saved there any more`);
    }
  }
}

function folderIdentity(dir: string): string {
  try {
    const { dev, ino } = fs.statSync(dir);
    return `${dev}:${ino}`;
  } catch {
    return 'gone';
  }
}

function* walk(dir: string): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (/\.js(\.map)?$/.test(entry.name)) yield full;
  }
}

function damaged(what: string) {
  return rebindError(
    'LIVE_CODE_DAMAGED',
    `the saved live code cannot be used: ${what}. Start with --from-disk to load logic/ as it is on disk (that saves a new manifest)`,
  );
}
