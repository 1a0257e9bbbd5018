// `rebind/testing`: helpers for a game's own tests. Start the game on a copy
// of the project (in <project>/.rebind-test/, beside its node_modules) with a
// throwaway data folder, connect players
// through the real client library, patch a module by writing its file or by
// the API, read live state, and stop everything.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RebindClient, type ClientOptions } from '../client/index.ts';
import type { PatchRecord } from './patch/history.ts';
import { GameServer, type ServerOptions } from './server.ts';
import { DataLock } from './store/lock.ts';

export type { PatchRecord } from './patch/history.ts';
export { RebindClient, RebindClientError } from '../client/index.ts';

export interface TestGameOptions extends Omit<ServerOptions, 'root' | 'dataDir' | 'port' | 'host'> {
  /** The game project (default: the working directory); it must have a logic/ folder. It is copied (but node_modules, data and dot folders) into <project>/.rebind-test/: a test edits the copy. */
  root?: string;
  /** Files to add or replace in the copy before the start, by path: `{ 'logic/extra.ts': '...' }`. */
  files?: Record<string, string>;
  /** Keep the data folder between starts of the same game (default: a fresh one). */
  dataDir?: string;
}

export class TestGame {
  private readonly clients = new Set<RebindClient>();

  private constructor(
    readonly server: GameServer,
    /** The copy of the project that the server runs. */
    readonly root: string,
    readonly dataDir: string,
    private readonly owned: string,
    /** Held while the copy is in use: what tells a later run that this copy is not stale (see removeStaleCopies). */
    private readonly lock: DataLock | undefined,
  ) {}

  static async start(options: TestGameOptions = {}): Promise<TestGame> {
    const { files = {}, dataDir, ...rest } = options;
    const root = path.resolve(options.root ?? process.cwd());
    const hasLogic = statSync(path.join(root, 'logic'), { throwIfNoEntry: false })?.isDirectory() ?? false;
    if (!hasLogic && !Object.keys(files).some((rel) => /^logic[\\/]/.test(rel))) {
      throw new Error(`startGame: ${root} has no logic/ folder, so there is no game to start; pass root: <your game's folder> (or files: { 'logic/...': ... })`);
    }
    const { owned, lock } = await makeCopy(root);
    let server: GameServer | undefined;
    try {
      for (const [rel, text] of Object.entries(files)) write(owned, rel, text);
      const data = dataDir ?? path.join(owned, 'data');
      server = await GameServer.start({ ...rest, root: owned, dataDir: data, port: 0, host: '127.0.0.1' });
      // A server keeps going without a module that did not load; a test must not.
      const leftOut = server.host.status().skippedAtStart;
      if (leftOut.length > 0) {
        throw new Error(`startGame: ${leftOut.map((m) => `${m.module} did not load (${m.code}: ${m.message})`).join('; ')}`);
      }
      return new TestGame(server, owned, data, owned, lock);
    } catch (err) {
      await server?.stop().catch(() => undefined);
      await lock?.release();
      removeCopy(owned);
      throw err;
    }
  }

  /** The game port, e.g. ws://127.0.0.1:41234. */
  get url(): string {
    return this.server.url;
  }

  /** A connected client that has joined with `auth` (default `{ name }`); closed by stop(). */
  async player(name: string, auth: unknown = { name }, options: ClientOptions = {}): Promise<RebindClient> {
    const client = new RebindClient(this.url, { reconnect: false, ...options });
    this.clients.add(client);
    await client.connect();
    await client.join(auth);
    return client;
  }

  /** Writes a file of the copy (`logic/arena.ts`) and patches: the record says what changed, or why it was refused. */
  async write(rel: string, text: string): Promise<PatchRecord> {
    write(this.root, rel, text);
    return this.patch();
  }

  /** Reads a file of the copy, e.g. to change one line of it. */
  read(rel: string): string {
    return readFileSync(path.join(this.root, rel), 'utf8');
  }

  /** Patches through the API, as `rebind patch [module...]` does. */
  patch(modules?: string[]): Promise<PatchRecord> {
    return this.server.host.engine.patch({ ...(modules ? { modules } : {}), origin: 'cli', by: 'rebind/testing' });
  }

  /** The live value of a store, or of a table (all rows, or the row `id`). */
  state<T = unknown>(store: string, id?: string): T {
    const s = this.server.host.registry.get(store) as unknown as { kind: string; get(id?: string): unknown; toObject?(): unknown };
    if (s.kind === 'table') return (id === undefined ? s.toObject!() : s.get(id)) as T;
    return s.get() as T;
  }

  /**
   * A state file's exports as the server loaded them: the live stores, not a
   * copy. A test must not import its own state files (outside the server's
   * loading of state/, defineStore and defineTable are refused with
   * STORE_OUTSIDE_STATE); it names the type instead, which imports nothing:
   * `const { players } = game.stateModule<typeof import('../state/game.ts')>('state/game.ts')`.
   * Read through them; change state by calling handlers (`game.call`), as the game does.
   */
  stateModule<M = Record<string, unknown>>(rel: string): M {
    const file = path.resolve(this.root, rel);
    const files = this.server.host.registry.files;
    const exports = files.get(file);
    if (!exports) {
      const known = [...files.keys()].map((f) => path.relative(this.root, f).split(path.sep).join('/'));
      throw new Error(`stateModule: ${rel} is not a state file the server loaded (loaded: ${known.join(', ') || 'none'})`);
    }
    return exports as M;
  }

  /** Calls any handler, internal ones too, as the CLI does; `player` sets ctx.player. */
  call<R = unknown>(name: string, payload?: unknown, player?: string): Promise<R> {
    // A refusal before the handler's first await is thrown at once: a rejection, like any other.
    return new Promise<R>((resolve) => resolve(this.server.host.call(name, payload, { origin: 'admin', player: player ?? null }) as R | Promise<R>));
  }

  /** Closes every client this game made, stops the server and removes the copy. */
  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    this.clients.clear();
    try {
      await this.server.stop();
    } finally {
      await this.lock?.release();
      removeCopy(this.owned);
    }
  }
}

/** Starts a game for a test; remember `await game.stop()` (in afterEach/afterAll). */
export function startGame(options?: TestGameOptions): Promise<TestGame> {
  return TestGame.start(options);
}

/** Top-level entries of a project that a copy leaves out: installed packages, data, build output, dot folders. */
const NOT_COPIED = new Set(['node_modules', 'data', 'test-output']);

/**
 * A copy of the project to run: under `<project>/.rebind-test/` when the
 * project exists, so that its node_modules (valibot, say) resolve as they do
 * for the project itself, with every top-level folder and file copied but
 * node_modules, data and dot folders, so that `../shared/x.ts` resolves too.
 * A project that does not exist gets a folder under the system's temp folder.
 */
async function makeCopy(root: string): Promise<{ owned: string; lock?: DataLock }> {
  if (!existsSync(root)) {
    const owned = mkdtempSync(path.join(tmpdir(), 'rebind-game-'));
    for (const dir of ['state', 'logic']) mkdirSync(path.join(owned, dir));
    return { owned };
  }
  const parent = path.join(root, '.rebind-test');
  await removeStaleCopies(parent);
  let owned: string;
  for (let attempt = 0; ; attempt++) {
    mkdirSync(parent, { recursive: true });
    try {
      owned = mkdtempSync(path.join(parent, 'run-'));
      break;
    } catch (err) {
      // Another test's stop() removed the folder in between: make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
  let lock: DataLock;
  try {
    lock = await DataLock.acquire(owned);
  } catch (err) {
    removeCopy(owned);
    throw err;
  }
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || NOT_COPIED.has(entry.name)) continue;
    const from = path.join(root, entry.name);
    cpSync(from, path.join(owned, entry.name), {
      recursive: true,
      filter: (src) => path.basename(src) !== 'node_modules' || src === from,
    });
  }
  // Packages resolve by walking up from the copy to the project's own node_modules.
  for (const dir of ['state', 'logic']) mkdirSync(path.join(owned, dir), { recursive: true });
  return { owned, lock };
}

/** A copy younger than this is left alone even unlocked: it may be between its mkdtemp and its lock. */
const STALE_AFTER_MS = 60_000;

/**
 * Removes the copies that runs killed before their stop() left behind (Ctrl-C on npm test): a copy whose lock
 * (held by the run that made it, released by the kernel when that process dies) can be taken is nobody's.
 * Never judged by a pid. A copy another live run holds answers DATA_LOCKED and is kept.
 */
async function removeStaleCopies(parent: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(parent).filter((name) => name.startsWith('run-'));
  } catch {
    return;
  }
  for (const name of names) {
    const copy = path.join(parent, name);
    const age = Date.now() - (statSync(copy, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age < STALE_AFTER_MS) continue;
    let lock: DataLock;
    try {
      lock = await DataLock.acquire(copy);
    } catch {
      continue; // in use by a live run (DATA_LOCKED), or already gone
    }
    await lock.release();
    rmSync(copy, { recursive: true, force: true });
  }
}

/** Removes a copy, and <project>/.rebind-test/ with the last one. */
function removeCopy(owned: string): void {
  rmSync(owned, { recursive: true, force: true });
  const parent = path.dirname(owned);
  if (path.basename(parent) === '.rebind-test') {
    try {
      rmdirSync(parent);
    } catch {
      // Another test's copy is still there.
    }
  }
}

function write(root: string, rel: string, text: string): void {
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep)) throw new Error(`${rel} is outside the game's folder`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}
