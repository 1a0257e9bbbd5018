import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePage, servePages } from './net/pages.ts';
import { Host } from './host.ts';
import { createLogger } from './log.ts';
import { TYPES_FILE, writeTypesFile } from './types-file.ts';
import { Gateway } from './net/gateway.ts';
import { DEFAULT_GUARD, guardedServer, listen, type GuardOptions } from './net/guard.ts';
import { neverThrows } from './net/http-safety.ts';
import { DEFAULT_LIMITS, type NetLimits } from './net/limits.ts';
import { sessionTable } from './net/sessions.ts';
import { LogicWatcher } from './patch/watcher.ts';
import type { PatchRequest } from './patch/engine.ts';
import { onCommit } from './store/transaction.ts';
import { TickLoop } from './tick.ts';
import { AdminServer } from './admin/admin.ts';
import { Metrics } from './metrics/metrics.ts';
import { CallStats } from './metrics/call-stats.ts';
import { Series } from './metrics/series.ts';
import { adminActions, READ_ONLY_ACTIONS } from './admin/actions.ts';
import { loadOrCreateToken } from './admin/token.ts';
import { Persistence, type FsyncMode, type RecoveryReport } from './store/persistence.ts';
import { wallNow } from './host-globals.ts';
import { VERIFY_OUTCOMES } from './patch/history.ts';
import type { FleetNode } from './fleet/node.ts';
import { joinFleet, type FleetMember } from './fleet/join.ts';
import { FleetPatchNode } from './fleet/patch-node.ts';
import { FleetPatcher } from './fleet/patch-coordinator.ts';

// The game server: the host, the client gateway on the game port, the tick
// loop that drives logic and state sync, and optionally the watcher.

export interface ServerOptions {
  /** The project folder with state/ and logic/ (default: the working directory). */
  root?: string;
  port?: number;
  host?: string;
  /** The data folder (snapshots, journal, admin token, audit log); without it nothing is persisted. */
  dataDir?: string;
  watch?: boolean;
  tickHz?: number;
  graceMs?: number;
  /** Starts the admin listener on this port (0: any free port); without it there is none. */
  adminPort?: number;
  adminHost?: string;
  fsync?: FsyncMode;
  /** Snapshot after this many journal records (default 50,000). */
  snapshotEvery?: number;
  /** Under --watch, verify every save's patch over this window and roll it back on its own if it goes over budget (patch/verify.ts). */
  verifyMs?: number;
  /** Start from logic/ on disk instead of the live code saved in the data folder (which it then replaces). */
  fromDisk?: boolean;
  /** Damaged data files are set aside (data/damaged-<time>/) and the start goes on from the valid prefix. */
  repair?: boolean;
  /** permessage-deflate on the game port (off by default: it costs CPU on every frame). */
  deflate?: boolean;
  /** Room sync: 'delta' (the default) or 'patches', the encoding before it (kept for `npm run bench`). */
  sync?: 'delta' | 'patches';
  /** Serve the demo's browser page on the game port and the dashboard on the admin port. */
  pages?: boolean;
  /** With pages: serve the demo's page on the game port (default: as pages). A game of its own has no use for the engine's arena. */
  demoPage?: boolean;
  limits?: Partial<NetLimits>;
  /** HTTP timeouts of both ports (headers, whole request, idle keep-alive); defaults in net/guard.ts. */
  httpTimeouts?: Partial<Pick<GuardOptions, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxPending'>>;
  sessionModule?: string;
  /** Joins the fleet on this Redis (redis://host:port/db); without it the server is one process and needs no Redis. */
  fleet?: string;
  /** The address other nodes send players to (default: the listening URL). */
  publicUrl?: string;
}

const CLIENT_DIR = fileURLToPath(new URL('../client/', import.meta.url));

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export class GameServer {
  readonly tick: TickLoop;
  /** Each tick's run time (logic's ticks and the state sync), for /metrics' histogram. */
  readonly tickTimes = new CallStats('tick', 'server', 0);
  /** The dashboard's charts: a point per second per module version, taken from the tick loop (metrics/series.ts). */
  readonly series: Series;
  watcher: LogicWatcher | undefined;
  admin: AdminServer | undefined;
  persistence: Persistence | undefined;
  recovery: RecoveryReport | undefined;
  /** This process's place in a fleet (--fleet); undefined when it runs alone. */
  fleet: FleetNode | undefined;
  /** The fleet's room directory and router beside the node. */
  fleetMember: FleetMember | undefined;
  /** Patches of the whole fleet, all or nothing (fleet/patch-*.ts); undefined when it runs alone. */
  fleetPatcher: FleetPatcher | undefined;
  private readonly httpHandlers: HttpHandler[] = [];
  private readonly log = createLogger('server');
  private stopping: Promise<void> | undefined;
  private readonly offCommit: () => void;

  private constructor(
    readonly host: Host,
    readonly http: HttpServer,
    readonly gateway: Gateway,
    readonly options: ServerOptions,
  ) {
    const tickFailures = new Map<string, { count: number; loggedAt: number }>();
    this.tick = new TickLoop(options.tickHz ?? 20, (dt) => {
      const started = performance.now();
      host.tick(dt, (module, err) => {
        // A tick that throws every time would otherwise log 20 lines a second.
        const seen = tickFailures.get(module) ?? { count: 0, loggedAt: 0 };
        seen.count++;
        tickFailures.set(module, seen);
        if (wallNow() - seen.loggedAt < 5000) return;
        seen.loggedAt = wallNow();
        const version = host.bindings.live.get(module);
        this.log.event('error', `${module}.tick failed (${seen.count} time(s) so far): ${(err as Error).message}`, { hook: 'tick', module, version: version?.version, hash: version?.hash.slice(0, 8), failures: seen.count });
      });
      gateway.rooms.flush();
      this.tickTimes.record(performance.now() - started, false);
      this.series.sample();
    });
    this.series = new Series(host.dispatcher.callStats, () => ({ tickMs: this.tick.stats.lastMs, players: gateway.sessions.connected() }));
    host.engine.history.onRecord((record) => {
      if (record.ok && !record.noop) gateway.announceVersions();
    });
    this.offCommit = onCommit((changes) => {
      if (changes.some((c) => host.registry.owns(c.store))) gateway.rooms.onCommit(changes);
    });
    http.on(
      'request',
      neverThrows('game port', (req, res) => {
        for (const handler of this.httpHandlers) if (handler(req, res)) return;
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('rebind game server: connect with a WebSocket client\n');
      }),
    );
  }

  static async start(options: ServerOptions = {}): Promise<GameServer> {
    const root = path.resolve(options.root ?? process.cwd());
    const host = await Host.create({ root });
    // Sessions are data the host owns, persisted with the stores (a restart knows who was connected).
    const sessions = sessionTable();
    host.registry.add(sessions, 'the host');
    let persistence: Persistence | undefined;
    let recovery: RecoveryReport | undefined;
    if (options.dataDir) {
      // Recover before any logic runs: init sees the data as it was.
      persistence = new Persistence(path.resolve(options.dataDir), host.registry, options.fsync ?? 'interval', {
        ...(options.snapshotEvery ? { snapshotEvery: options.snapshotEvery } : {}),
        ...(options.repair ? { repair: true } : {}),
      });
      recovery = await persistence.recover();
    }
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const { http, guard } = guardedServer({ ...DEFAULT_GUARD, ...options.httpTimeouts, maxPerAddress: limits.maxConnectionsPerAddress, capFlag: '--max-per-address' });
    // The gateway exists before logic loads, so that what init does (room views, pushes) reaches it.
    const gateway = new Gateway(host, http, {
      limits,
      sessionTable: sessions,
      ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
      ...(options.sessionModule ? { sessionModule: options.sessionModule } : {}),
      ...(options.deflate ? { deflate: true } : {}),
      ...(options.sync ? { sync: options.sync } : {}),
      ...(persistence ? { writeMark: () => persistence.writeMark(), beforeReply: (mark: number) => persistence.durableSince(mark) } : {}),
    });
    guard.idle = (socket) => !gateway.holdsPlayer(socket);
    const server = new GameServer(host, http, gateway, options);
    server.persistence = persistence;
    server.recovery = recovery;
    try {
      // The live code is kept in the data folder: a restart comes back on it, not on whatever logic/ holds now.
      await host.start(options.dataDir ? { dataDir: path.resolve(options.dataDir), fromDisk: options.fromDisk === true } : {});
    } catch (err) {
      await persistence?.close();
      throw err;
    }
    try {
      await server.open(root);
    } catch (err) {
      // Whatever started is stopped the normal way: the data folder's lock, timers, the admin port.
      await server.stop().catch(() => undefined);
      throw err;
    }
    return server;
  }

  /** Puts back the last run's sessions, then opens the ports; the caller stops everything if this throws. */
  private async open(root: string): Promise<void> {
    const { host, options } = this;
    const server = this;
    const restored = this.gateway.restoreSessions();
    if (restored > 0) this.log.info(`${restored} player(s) of the last run not connected: each gets drop now, leave after the grace unless they come back`);
    await listen(this.http, options.port ?? 8080, options.host ?? '0.0.0.0', 'game', '--port (REBIND_PORT)');
    server.tick.start();
    if (options.pages && options.demoPage !== false) {
      const page = await bundlePage('/', path.join(CLIENT_DIR, 'demo/index.html'), path.join(CLIENT_DIR, 'demo/main.ts'), '/demo.js');
      server.onHttp(servePages([page]));
    }
    if (options.adminPort !== undefined) {
      const dataDir = path.resolve(options.dataDir ?? path.join(root, 'data'));
      const token = loadOrCreateToken(dataDir);
      // GET /metrics (Prometheus, the admin token as Bearer) beside the dashboard's pages.
      const metrics = new Metrics(server, options.sessionModule);
      const scrape = metrics.handler(token.value, { refused: (req, why) => server.admin?.refused(req, why, 'metrics') ?? Promise.resolve(), accepted: (req) => server.admin?.accepted(req) });
      const pages = options.pages ? servePages([await bundlePage('/', path.join(CLIENT_DIR, 'dashboard/index.html'), path.join(CLIENT_DIR, 'dashboard/main.ts'), '/dashboard.js')]) : undefined;
      server.admin = await AdminServer.start({
        host: options.adminHost ?? '127.0.0.1',
        port: options.adminPort,
        token,
        dataDir,
        actions: adminActions(server),
        readOnly: READ_ONLY_ACTIONS,
        ...(options.httpTimeouts ? { httpTimeouts: options.httpTimeouts } : {}),
        onHttp: (req, res, url) => scrape(req, res, url) || (pages?.(req, res) ?? false),
      });
      host.engine.history.onRecord((record) => server.admin?.announce(record));
      // What a patch's verification decided is an operator-visible action too: in the audit log with its reason and figures.
      host.engine.history.onRecord((record) => {
        if (!VERIFY_OUTCOMES.has(record.kind)) return;
        // ok: the record's own (an auto-rollback that worked is ok; the patch's own closing line says it was rolled back).
        server.admin?.audit.write({ action: record.kind, origin: 'verify', ok: record.ok, result: record.verify });
      });
    }
    if (options.fleet) this.joinFleet(options.fleet);
    if (options.watch) {
      if (options.verifyMs) host.engine.watchVerify = { windowMs: options.verifyMs };
      // On a node of a fleet, a save patches the fleet (all or nothing), as rebind patch does.
      const fleet = server.fleetPatcher;
      const patcher = fleet ? { patch: (request: PatchRequest) => fleet.watchPatch({ ...request, ...(host.engine.watchVerify ? { verify: host.engine.watchVerify } : {}) }) } : host.engine;
      server.watcher = new LogicWatcher(patcher, host.paths);
      await server.watcher.start();
      // The developer's loop: tsc sees every handler as soon as it is live (rebind types, from what is loaded).
      server.writeTypes();
      host.engine.history.onRecord((record) => {
        if (record.ok && !record.noop) server.writeTypes();
      });
    }
  }

  private joinFleet(url: string): void {
    this.fleetMember = joinFleet({
      url,
      ...(this.options.dataDir ? { dataDir: path.resolve(this.options.dataDir) } : {}),
      gameUrl: this.publicUrl,
      ...(this.admin ? { adminUrl: this.admin.url } : {}),
      // Rooms as the fleet's map counts them (a room stays this node's while nobody is in it): status and Redis agree.
      load: () => ({ players: this.gateway.sessions.connected(), rooms: this.fleetMember?.directory.held().length ?? 0 }),
      code: () => Object.fromEntries([...this.host.bindings.live.values()].map((v) => [v.module, { version: v.version, hash: v.hash }])),
    }, this.host, this.gateway);
    this.fleet = this.fleetMember.node;
    this.fleetPatcher = new FleetPatcher(new FleetPatchNode(this.fleet, this.host));
  }

  /** Where other nodes send this node's players: --public-url, or the address it listens on. */
  get publicUrl(): string {
    return this.options.publicUrl ?? this.url;
  }

  /** Lets another part (the demo page) answer plain HTTP on the game port. */
  onHttp(handler: HttpHandler): void {
    this.httpHandlers.push(handler);
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** The demo page's address, when pages are served. */
  get pageUrl(): string | undefined {
    return this.options.pages && this.options.demoPage !== false ? this.url.replace(/^ws/, 'http') + '/' : undefined;
  }

  get url(): string {
    const address = this.http.address() as AddressInfo;
    const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
    return `ws://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  status() {
    return {
      ...this.host.status(),
      players: {
        connected: this.gateway.sessions.connected(),
        sessions: this.gateway.sessions.size,
        connections: this.gateway.connectionCount,
        list: [...this.gateway.sessions.all()].slice(0, 200).map((s) => ({ player: s.player, online: s.link !== null, since: new Date(s.joinedAt).toISOString() })),
      },
      rooms: this.gateway.rooms.stats(),
      tick: { ...this.tick.stats },
      net: { ...this.gateway.stats },
      persistence: this.persistence?.stats() ?? null,
      memory: { rssMb: Math.round(process.memoryUsage().rss / 2 ** 20), heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20) },
    };
  }

  /** Writes rebind-env.d.ts from the live modules; a failure is logged, never a reason to stop serving. */
  writeTypes(): void {
    const modules = [...this.host.bindings.live.values()].map((v) => ({ module: v.module, file: v.file, handlers: [...v.handlers.keys()] }));
    try {
      writeTypesFile(this.host.paths.root, modules);
    } catch (err) {
      this.log.warn(`could not write ${TYPES_FILE}: ${(err as Error).message}`);
    }
  }

  /** Stops accepting, lets running calls finish, closes clients with 1001. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.watcher?.close();
      this.http.close();
      await this.gateway.close();
      await this.fleetMember?.leave();
      this.tick.stop();
      this.offCommit();
      await this.host.stop();
      await this.admin?.close();
      await this.persistence?.close();
      this.http.closeAllConnections();
    })();
    return this.stopping;
  }
}
