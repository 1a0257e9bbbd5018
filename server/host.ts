import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BindingTable } from './patch/bindings.ts';
import type { ProjectPaths } from './patch/build.ts';
import { Builder } from './patch/build.ts';
import { Dispatcher, type Origin as CallOrigin, type Outbox } from './patch/dispatch.ts';
import { PatchEngine, type PatchRequest } from './patch/engine.ts';
import type { Origin, PatchRecord } from './patch/history.ts';
import { Scheduler, TIMERS_STORE, type TimerRow } from './patch/scheduler.ts';
import { rebindError } from './errors.ts';
import { loadState, StoreRegistry } from './store/registry.ts';
import { Table } from './store/table.ts';

// The host: the stores (created once), the binding table, the dispatcher,
// durable timers and the patch engine, wired together. It is what the server,
// the admin channel, the CLI's server side and the tests all drive; one API:
// patch(), rollback(), status(), history(), call().

export interface HostOptions {
  /** The project folder holding state/ and logic/. */
  root: string;
  logicDir?: string;
  stateDir?: string;
}

export interface ModuleStatus {
  name: string;
  version: number;
  hash: string;
  file: string;
  activatedAt: string;
  handlers: Array<{ name: string; public: boolean; calls: number; errors: number }>;
  tick: boolean;
  timers: number;
  canRollback: boolean;
}

export interface HostStatus {
  modules: ModuleStatus[];
  stores: Array<{ name: string; kind: 'value' | 'table'; version: number }>;
  lastPatch: PatchRecord | null;
  patches: number;
  pendingTimers: number;
  uptimeMs: number;
}

const HOST_API = fileURLToPath(new URL('./api.ts', import.meta.url));

export class Host {
  readonly registry = new StoreRegistry();
  readonly bindings = new BindingTable();
  readonly timers = new Table<TimerRow>(TIMERS_STORE);
  readonly scheduler: Scheduler;
  readonly dispatcher: Dispatcher;
  readonly engine: PatchEngine;
  private readonly startedAt = Date.now();

  private constructor(readonly paths: ProjectPaths) {
    this.dispatcher = new Dispatcher(this.bindings, {
      schedule: (...args) => this.scheduler.schedule(...args),
      cancel: (id) => this.scheduler.cancel(id),
    });
    this.scheduler = new Scheduler(this.timers, (name, payload, player) => this.dispatcher.invoke(name, payload, player, 'timer'));
    this.engine = new PatchEngine(paths, this.registry, this.bindings, this.dispatcher);
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
    const host = new Host(paths);
    host.registry.add(host.timers, 'the host');
    const builder = new Builder(paths);
    try {
      await loadState(paths, builder, host.registry);
    } finally {
      await builder.close();
    }
    return host;
  }

  /** Loads every logic module (as patch #1) and starts the durable timers. Throws if the logic does not load. */
  async start(): Promise<PatchRecord> {
    const record = await this.engine.patch({ origin: 'start' });
    if (!record.ok) {
      const err = record.error!;
      throw rebindError(err.code, `the logic did not load: ${err.message}`, err.location ? { location: err.location } : {});
    }
    this.scheduler.start();
    return record;
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

  /** Runs every live module's tick, each in its own transaction; a tick that throws is reported to `onError`. */
  tick(dt: number, onError: (module: string, err: unknown) => void): void {
    for (const version of this.bindings.live.values()) {
      if (!version.tick) continue;
      try {
        this.dispatcher.lifecycle(version, 'tick', dt);
      } catch (err) {
        onError(version.module, err);
      }
    }
  }

  status(): HostStatus {
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
          return { name, public: v.publicHandlers.has(h), calls: stats?.calls ?? 0, errors: stats?.errors ?? 0 };
        }),
        tick: typeof v.tick === 'function',
        timers: v.timers.count,
        canRollback: this.engine.canRollback(v.module),
      }));
    return {
      modules,
      stores: [...this.registry.byName.values()].map((s) => ({ name: s.name, kind: s.kind, version: s.version })),
      lastPatch: this.engine.history.last() ?? null,
      patches: this.engine.history.list().length,
      pendingTimers: this.scheduler.pending,
      uptimeMs: Date.now() - this.startedAt,
    };
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    await this.engine.close();
  }
}
