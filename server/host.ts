import { types } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BindingTable } from './patch/bindings.ts';
import type { ProjectPaths } from './patch/build.ts';
import { Builder } from './patch/build.ts';
import { Dispatcher, type Origin as CallOrigin, type Outbox } from './patch/dispatch.ts';
import { PatchEngine, type PatchRequest } from './patch/engine.ts';
import type { Origin, PatchRecord } from './patch/history.ts';
import { Scheduler, TIMERS_STORE, type TimerRow } from './patch/scheduler.ts';
import { discoverModules, isModuleFile, moduleName } from './patch/modules.ts';
import { DEFAULT_TIME_LIMIT_MS } from './patch/evaluate.ts';
import { busyStats, markStarting, startWatchdog } from './patch/busy.ts';
import { HistoryFile } from './patch/history-file.ts';
import { canaryStatus } from './patch/canary.ts';
import { LiveCodeStore, type Manifest } from './patch/live-code.ts';
import { driftLines, type DiskState } from './patch/live-manifest.ts';
import { rebindError } from './errors.ts';
import { createLogger } from './log.ts';
import { loadState, StoreRegistry } from './store/registry.ts';
import { Table } from './store/table.ts';
import { wallNow } from './host-globals.ts';

// The host: the stores (created once), the binding table, the dispatcher,
// durable timers and the patch engine, wired together. It is what the server,
// the admin channel, the CLI's server side and the tests all drive; one API:
// patch(), rollback(), status(), history(), call().

export interface HostOptions {
  /** The project folder holding state/ and logic/. */
  root: string;
  logicDir?: string;
  stateDir?: string;
  /**
   * How long a logic module's top level, init or dispose may run before it is
   * stopped and the patch refused (default 2000 ms, or REBIND_TIME_LIMIT_MS).
   */
  timeLimitMs?: number;
}

/** Calls and errors of a lifecycle hook, with the last error's message and location. */
export interface HookStatus {
  name: 'init' | 'dispose' | 'tick';
  calls: number;
  errors: number;
  lastError: { code: string; message: string; at: string; location?: { file: string; line: number; column: number } } | null;
}

export interface ModuleStatus {
  name: string;
  version: number;
  hash: string;
  file: string;
  activatedAt: string;
  handlers: Array<{ name: string; public: boolean; calls: number; errors: number; lastError: HookStatus['lastError'] }>;
  /** The module's lifecycle hooks (those it exports), counted like handlers. */
  hooks: HookStatus[];
  tick: boolean;
  timers: number;
  canRollback: boolean;
  /** How the live code compares with the module's files on disk. */
  disk: DiskState;
}

/** Where the live code came from, whether it is saved, and where the files on disk differ from it. */
export interface LiveCodeStatus {
  /** `saved`: restored from the data folder at start; `disk`: loaded from logic/ at start. */
  startedFrom: 'saved' | 'disk';
  /** Where it is kept (the data folder's code/), or null without a data folder. */
  dir: string | null;
  savedAt: string | null;
  /** Why the last save failed, if it did. */
  error: string | null;
  /** Module files on disk that are not live. */
  notLive: string[];
  /** One line per difference: "arena: live v4 a40eb6, disk differs". */
  drift: string[];
}

/** How start() loads the logic. */
export interface StartOptions {
  /** The data folder: the live code is restored from it and saved in it. */
  dataDir?: string;
  /** Loads logic/ from disk even when live code is saved (which it then replaces). */
  fromDisk?: boolean;
}

export interface HostStatus {
  modules: ModuleStatus[];
  stores: Array<{ name: string; kind: 'value' | 'table'; version: number }>;
  lastPatch: PatchRecord | null;
  patches: number;
  pendingTimers: number;
  uptimeMs: number;
  /** Synchronous runs of logic long enough to stall the event loop (see patch/busy.ts). */
  busy: { count: number; last: { name: string; ms: number } | null };
  /** Modules left out at start because they did not load (the server serves the rest). */
  skippedAtStart: Array<{ module: string; code: string; message: string }>;
  liveCode: LiveCodeStatus;
  /** While a canary runs: its versions beside the live ones, and the share of players they serve. */
  canary: ReturnType<typeof canaryStatus>;
}

const HOST_API = fileURLToPath(new URL('./api.ts', import.meta.url));

export class Host {
  readonly registry = new StoreRegistry();
  readonly bindings = new BindingTable();
  readonly timers = new Table<TimerRow>(TIMERS_STORE);
  readonly scheduler: Scheduler;
  readonly dispatcher: Dispatcher;
  readonly engine: PatchEngine;
  private readonly startedAt = wallNow();
  private readonly skipped: HostStatus['skippedAtStart'] = [];
  private readonly log = createLogger('host');
  private liveCodeDir: string | null = null;
  private startedFrom: LiveCodeStatus['startedFrom'] = 'disk';

  private constructor(
    readonly paths: ProjectPaths,
    timeLimitMs: number,
  ) {
    this.dispatcher = new Dispatcher(this.bindings, {
      schedule: (...args) => this.scheduler.schedule(...args),
      cancel: (id) => this.scheduler.cancel(id),
    });
    this.scheduler = new Scheduler(this.timers, (name, payload, player) => this.dispatcher.invoke(name, payload, player, 'timer'));
    this.engine = new PatchEngine(paths, this.registry, this.bindings, this.dispatcher, timeLimitMs);
    startWatchdog();
  }

  /** Loads state/ once, without loading any logic (persistence restores before logic runs). */
  static async create(options: HostOptions): Promise<Host> {
    const root = path.resolve(options.root);
    const paths: ProjectPaths = {
      root,
      logicDir: path.resolve(root, options.logicDir ?? 'logic'),
      stateDir: path.resolve(root, options.stateDir ?? 'state'),
      apiFiles: [path.join(root, 'server', 'api.ts'), HOST_API],
    };
    const fromEnv = Number(process.env.REBIND_TIME_LIMIT_MS);
    const host = new Host(paths, options.timeLimitMs ?? (fromEnv > 0 ? fromEnv : DEFAULT_TIME_LIMIT_MS));
    host.registry.add(host.timers, 'the host');
    const builder = new Builder(paths);
    try {
      await loadState(paths, builder, host.registry);
    } finally {
      await builder.close();
    }
    return host;
  }

  /**
   * Loads every logic module (as patch #1) and starts the durable timers. A
   * module that does not load (a compile error, a throw or an endless loop at
   * top level or in init) is left out with a loud error and the others are
   * served, so that one bad file on disk cannot keep the game down; `rebind
   * status` lists what was left out. Throws if nothing can be loaded, or if
   * the failure cannot be pinned on one module.
   */
  async start(options: StartOptions = {}): Promise<PatchRecord> {
    // While it starts, a hang in logic gets a way out in the busy watchdog's line (busy.ts).
    markStarting(true);
    try {
      return await this.startLogic(options);
    } finally {
      markStarting(false);
    }
  }

  private async startLogic(options: StartOptions): Promise<PatchRecord> {
    let record: PatchRecord | undefined;
    if (options.dataDir) {
      const store = new LiveCodeStore(options.dataDir);
      this.liveCodeDir = store.dir;
      this.engine.attachLiveCode(store, new HistoryFile(store.dir));
      let manifest: Manifest | undefined;
      try {
        manifest = store.loadManifest();
      } catch (err) {
        // --from-disk is the way out of a damaged manifest: it is replaced once logic/ has loaded.
        if (!options.fromDisk) throw err;
        this.log.warn(`${(err as Error).message}; starting from disk as asked`);
      }
      if (manifest && options.fromDisk) {
        this.engine.continueVersions(manifest.lastVersion);
        // The code that was live stays the rollback target: rebind rollback goes back to it after a start from the files.
        this.engine.keepSaved(manifest, store);
      }
      else if (manifest) {
        this.startedFrom = 'saved';
        record = await this.engine.restore(manifest, store);
        // As from disk: a saved module that no longer starts (its top level or init throws now) is left out, the rest served.
        while (!record.ok) {
          const err = record.error!;
          const culprit = this.culprit(record);
          const rest = Object.keys(manifest.modules).filter((m) => m !== culprit && !this.skipped.some((s) => s.module === m));
          if (!culprit || rest.length === 0) {
            throw rebindError(err.code, `the saved live code (${store.manifestFile}) did not start: ${err.message}; start with --from-disk to load logic/ as it is on disk`, err.location ? { location: err.location } : {});
          }
          this.skipped.push({ module: culprit, code: err.code, message: err.message });
          this.log.error(
            `MODULE LEFT OUT: ${culprit} (saved live code) did not load and is not being served (${err.code}: ${err.message}); fix the file and patch it in (rebind patch ${culprit}), or start with --from-disk`,
          );
          record = await this.engine.restore(manifest, store, new Set(this.skipped.map((s) => s.module)));
        }
        const lines = driftLines(this.bindings.live, this.engine.drift());
        this.log[lines.length ? 'warn' : 'info'](`restored the live code saved ${manifest.savedAt} (${Object.keys(manifest.modules).length} modules)${lines.length ? `; the files on disk differ:\n  ${lines.join('\n  ')}\n  (rebind patch takes the files; npm start -- --from-disk starts from them)` : ', the same as the files on disk'}`);
        this.scheduler.start();
        return record;
      }
    }
    record = await this.engine.patch({ origin: 'start' });
    while (!record.ok) {
      const err = record.error!;
      const culprit = this.culprit(record);
      const rest = [...discoverModules(this.paths.logicDir).keys()].filter((m) => m !== culprit && !this.skipped.some((s) => s.module === m));
      if (!culprit || rest.length === 0) {
        throw rebindError(err.code, `the logic did not load: ${err.message}`, err.location ? { location: err.location } : {});
      }
      this.skipped.push({ module: culprit, code: err.code, message: err.message });
      this.log.error(`MODULE LEFT OUT: ${culprit} did not load and is not being served (${err.code}: ${err.message}); fix the file and patch it in (rebind patch ${culprit})`);
      record = await this.engine.patch({ origin: 'start', modules: rest });
    }
    this.scheduler.start();
    return record;
  }

  /** The module a refused start patch is to blame on: named by the error, or the module file it points at. */
  private culprit(record: PatchRecord): string | undefined {
    const err = record.error!;
    if (err.module) return err.module;
    const file = err.location ? path.resolve(this.paths.root, err.location.file) : undefined;
    return file && isModuleFile(this.paths.logicDir, file) ? moduleName(this.paths.logicDir, file) : undefined;
  }

  /** Convenience: create() then start(). */
  static async open(options: HostOptions): Promise<Host> {
    const host = await Host.create(options);
    await host.start();
    return host;
  }

  set outbox(outbox: Outbox) {
    this.dispatcher.outbox = outbox;
  }

  patch(modules?: string[] | PatchRequest, origin: Origin = 'api'): Promise<PatchRecord> {
    const request = Array.isArray(modules) ? { modules, origin } : { origin, ...modules };
    return this.engine.patch(request);
  }

  rollback(module?: string, origin: Origin = 'api', by?: string): Promise<PatchRecord> {
    return this.engine.rollback(module, by ? { origin, by } : { origin });
  }

  history(limit?: number): PatchRecord[] {
    return this.engine.history.list(limit);
  }

  /** Calls a handler by name, as `origin` would (clients may reach only public handlers). */
  call(name: string, payload?: unknown, options: { player?: string | null; origin?: CallOrigin } = {}): unknown {
    return this.dispatcher.invoke(name, payload ?? null, options.player ?? null, options.origin ?? 'admin');
  }

  /** Runs every live module's tick, each in its own transaction; a tick that throws (or, async, rejects) is reported to `onError`. */
  tick(dt: number, onError: (module: string, err: unknown) => void): void {
    for (const version of this.bindings.live.values()) {
      if (!version.tick) continue;
      try {
        const result = this.dispatcher.lifecycle(version, 'tick', dt);
        if (types.isPromise(result)) result.catch((err: unknown) => onError(version.module, err));
      } catch (err) {
        onError(version.module, err);
      }
    }
  }

  status(): HostStatus {
    const drift = this.engine.drift();
    const modules: ModuleStatus[] = [...this.bindings.live.values()]
      .sort((a, b) => a.module.localeCompare(b.module))
      .map((v) => ({
        name: v.module,
        version: v.version,
        hash: v.hash,
        file: path.relative(this.paths.root, v.file).split(path.sep).join('/'),
        activatedAt: new Date(v.activatedAt).toISOString(),
        handlers: [...v.handlers.keys()].map((h) => {
          const name = `${v.module}.${h}`;
          const stats = this.dispatcher.stats.get(name);
          return { name, public: v.publicHandlers.has(h), calls: stats?.calls ?? 0, errors: stats?.errors ?? 0, lastError: stats?.lastError ?? null };
        }),
        hooks: (['init', 'tick', 'dispose'] as const)
          .filter((hook) => typeof v[hook] === 'function')
          .map((hook) => {
            const stats = this.dispatcher.stats.get(`${v.module}.${hook}`);
            return { name: hook, calls: stats?.calls ?? 0, errors: stats?.errors ?? 0, lastError: stats?.lastError ?? null };
          }),
        tick: typeof v.tick === 'function',
        timers: v.timers.count,
        canRollback: this.engine.canRollback(v.module),
        disk: drift.modules[v.module] ?? 'same',
      }));
    return {
      modules,
      stores: [...this.registry.byName.values()].map((s) => ({ name: s.name, kind: s.kind, version: s.version })),
      lastPatch: this.engine.history.last() ?? null,
      patches: this.engine.history.list().length,
      pendingTimers: this.scheduler.pending,
      uptimeMs: wallNow() - this.startedAt,
      busy: busyStats(),
      // Once patched in, a module left out at start is no longer news.
      skippedAtStart: this.skipped.filter((s) => !this.bindings.live.has(s.module)),
      liveCode: {
        startedFrom: this.startedFrom,
        dir: this.liveCodeDir,
        savedAt: this.engine.liveCodeSavedAt ?? null,
        error: this.engine.liveCodeError ?? null,
        notLive: drift.notLive,
        drift: driftLines(this.bindings.live, drift),
      },
      canary: canaryStatus(this.bindings, this.engine.canaryState),
    };
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    await this.engine.close();
  }
}
