import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { types } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import type { RoomView } from '../api.ts';
import { isRebindError, rebindError, type RebindError } from '../errors.ts';
import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import { thrownMessage } from '../thrown.ts';
import { assertPlain, assertShallow } from '../store/plain.ts';
import { whenSettled } from '../settle.ts';
import type { Outbox } from '../patch/dispatch.ts';
import { CLOSE, Connection } from './connection.ts';
import { EncodedOnce, push, replyError, replyOk, type Request } from './codec.ts';
import { DEFAULT_LIMITS, type NetLimits } from './limits.ts';
import { Heartbeat } from './heartbeat.ts';
import type { NetFleet } from './fleet-hooks.ts';
import { SessionLifecycle } from './lifecycle.ts';
import { Rooms, type RoomSync } from './rooms.ts';
import { PatchRooms } from './rooms-patches.ts';
import { Sessions, type SessionRow } from './sessions.ts';
import type { Table } from '../store/table.ts';
import { hostClearTimeout, hostSetTimeout, monoNow, wallNow } from '../host-globals.ts';

// The clients' side of the host: WebSocket connections speaking the wire
// protocol, turned into players by the session hooks in logic, with limits
// that keep a hostile or slow client from hurting anyone else.

export interface GatewayOptions {
  limits?: Partial<NetLimits>;
  /** How long a disconnected player is kept for a resume. */
  graceMs?: number;
  /** The logic module whose auth/join/leave/drop/resume handlers run sessions. */
  sessionModule?: string;
  /** permessage-deflate (default off). */
  deflate?: boolean;
  /** The host's `$sessions` table, registered before recovery so that sessions outlive the process. */
  sessionTable?: Table<SessionRow>;
  /** A mark taken as a request starts (how far the journal's history goes), handed to beforeReply. */
  writeMark?: () => number;
  /** Resolves when what was committed since the mark is durable, rejects if it cannot be written; undefined: reply now. */
  beforeReply?: (mark: number) => Promise<void> | undefined;
  /** How rooms are synced: 'delta' (compact, per-player views; the default) or 'patches' (the immer patches, as before; for the bench). */
  sync?: 'delta' | 'patches';
}

export { CLOSE };

/** How long a connection may sit without joining before, on a full server, its seat is given away. */
const IDLE_EVICT_AFTER_MS = 1000;
/** What a request with seq 0 is answered: nothing is sent (the connection sends no reply for seq 0). */
const NO_REPLY: unknown[] = Object.freeze([0, 0, null]) as unknown[];

export class Gateway implements Outbox {
  readonly rooms: RoomSync;
  readonly sessions: Sessions;
  private readonly lifecycle: SessionLifecycle;
  private readonly heartbeat: Heartbeat;
  readonly limits: NetLimits;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly bySocket = new WeakMap<object, Connection>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly log = createLogger('net');
  private closing = false;
  /** Set when the server joins a fleet: redirects, presence, adoption of players from other nodes. */
  fleet: NetFleet | undefined;
  stats = { messages: 0, errors: 0, connectionsTotal: 0 };

  constructor(
    readonly host: Host,
    server: HttpServer,
    readonly options: GatewayOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.rooms = options.sync === 'patches' ? new PatchRooms(host.registry) : new Rooms(host.registry, { resolve: (name) => host.bindings.resolve(name)?.fn, onFilterError: (name, err) => this.filterFailed(name, err) });
    this.sessions = new Sessions(options.sessionTable);
    this.lifecycle = new SessionLifecycle(host, this.sessions, this.rooms, options.graceMs ?? 30_000, options.sessionModule ?? 'session', () => this.fleet);
    // So that a session hook called without a player (a timer, rebind call without --as) is refused, not run with null.
    host.dispatcher.sessionModule = this.lifecycle.sessionModule;
    this.wss = new WebSocketServer({ server, maxPayload: this.limits.maxFrameBytes, perMessageDeflate: options.deflate === true });
    this.wss.on('connection', (ws, req) => this.accept(ws, req));
    // ws passes on the HTTP server's errors (EADDRINUSE); the server's listen reports them.
    this.wss.on('error', () => undefined);
    this.heartbeat = new Heartbeat(this.limits.heartbeatMs, () => this.connections);
    host.outbox = this;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    if (this.closing) {
      ws.close(CLOSE.goingAway, 'server shutting down');
      return;
    }
    if (this.connections.size >= this.limits.maxConnections && !this.evictIdle()) {
      ws.close(CLOSE.tryAgainLater, `server full (${this.limits.maxConnections} connections)`);
      return;
    }
    const conn = new Connection(this, ws, req.socket.remoteAddress ?? '?');
    this.connections.add(conn);
    this.bySocket.set(req.socket, conn);
    this.stats.connectionsTotal++;
    ws.on('close', () => {
      this.connections.delete(conn);
      this.lifecycle.disconnected(conn);
    });
  }

  /**
   * Full: the seat of the oldest connection that has not joined after a
   * second goes to the newcomer, so idle sockets cannot keep players out.
   */
  private evictIdle(): boolean {
    const now = monoNow();
    for (const conn of this.connections) {
      if (conn.session || now - conn.openedAt < IDLE_EVICT_AFTER_MS) continue;
      this.connections.delete(conn);
      conn.close(CLOSE.authTimeout, 'server full: a connection that had not joined made room');
      return true;
    }
    return false;
  }

  /** Whether this TCP socket carries a player (the per-address guard never gives those up). */
  holdsPlayer(socket: object): boolean {
    return this.bySocket.get(socket)?.session !== undefined;
  }

  get graceMs(): number {
    return this.lifecycle.graceMs;
  }

  /** Sessions a previous run left behind become cut connections (see SessionLifecycle.restore). */
  restoreSessions(): number {
    return this.lifecycle.restore();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Runs a request; resolves to the reply to send (undefined for seq 0). */
  handle(conn: Connection, request: Request, arrivedAt?: number): unknown[] | Promise<unknown[]> | undefined {
    this.stats.messages++;
    const mark = this.options.writeMark?.();
    const reply = this.run(conn, request, arrivedAt, mark, true);
    if (types.isPromise(reply)) {
      // Shutdown waits for these: calls still running, and replies waiting for their fsync.
      this.inFlight.add(reply);
      void reply.finally(() => this.inFlight.delete(reply));
    }
    return reply;
  }

  /** `again`: a call whose room the fleet has just placed on this node (in Redis, before anything committed) runs once more, now that the room is here. */
  private run(conn: Connection, request: Request, arrivedAt: number | undefined, mark: number | undefined, again: boolean): unknown[] | Promise<unknown[]> {
    let result: unknown;
    try {
      result = request.name.startsWith('$') ? this.system(conn, request) : this.call(conn, request, arrivedAt);
    } catch (err) {
      return this.errorReply(request, err, this.rerun(conn, request, arrivedAt, again));
    }
    // (util.types.isPromise: `instanceof` runs the getPrototypeOf trap of a Proxy a handler returned; whenSettled: the promise's own `then` is never run.)
    if (!types.isPromise(result)) return this.afterDurable(request, result, mark);
    const onError = (err: unknown) => this.errorReply(request, err, this.rerun(conn, request, arrivedAt, again));
    // A reply is made whatever happens on the way to it (a throw while it is made is answered too, never left waiting).
    return whenSettled(result, (value) => this.afterDurable(request, value, mark), onError).catch((err: unknown) => this.errorReply(request, err));
  }

  /** How an erring request runs once more (made on an error, the only path that reruns, not for every request). */
  private rerun(conn: Connection, request: Request, arrivedAt: number | undefined, again: boolean): (() => unknown[] | Promise<unknown[]>) | undefined {
    return again ? () => this.run(conn, request, arrivedAt, this.options.writeMark?.(), false) : undefined;
  }

  /** The reply, once the writes this request committed are durable (only `--fsync always` makes it wait; a failing disk makes it PERSIST_ERROR). */
  private afterDurable(request: Request, value: unknown, mark: number | undefined): unknown[] | Promise<unknown[]> {
    // Seq 0 asks for no reply (a player's moves): there is nothing to check, copy or hold back for the disk.
    if (request.seq === 0) return NO_REPLY;
    const system = request.name.startsWith('$');
    const refused = system ? undefined : notPlainReply(request.name, value);
    if (refused) {
      this.stats.errors++;
      return replyError(request.seq, 'HANDLER_ERROR', refused);
    }
    // System requests ($auth, $ping, ...) answer about the connection, not about data: they never wait for the disk.
    const gate = mark === undefined || system ? undefined : this.options.beforeReply?.(mark);
    if (!gate) return replyOk(request.seq, value);
    // What was checked is what is sent: logic may change the object it returned while the disk is awaited.
    let checked: unknown = value;
    if (!system && value !== null && typeof value === 'object') {
      try {
        checked = structuredClone(value);
      } catch (err) {
        // Nested deeper than a copy can go (the check recurses with smaller frames than structuredClone).
        this.stats.errors++;
        return replyError(request.seq, 'HANDLER_ERROR', `${request.name} returned what a reply cannot carry (${thrownMessage(err)}): return plain data, less deeply nested`);
      }
    }
    return gate.then(
      () => replyOk(request.seq, checked),
      (err: unknown) => this.errorReply(request, err),
    );
  }

  private errorReply(request: Request, err: unknown, rerun?: () => unknown[] | Promise<unknown[]>): unknown[] | Promise<unknown[]> {
    const e: RebindError = isRebindError(err) ? err : rebindError('HANDLER_ERROR', thrownMessage(err));
    if (this.fleet && (e.code === 'ROOM_ELSEWHERE' || e.code === 'PLAYER_ELSEWHERE')) {
      // The client is told where to go, with a ticket that node accepts for this player; or the room is here now and the call runs again.
      return this.fleet.redirect(e).then(
        (redirect) => {
          if (redirect === 'here' && rerun) return rerun();
          this.stats.errors++;
          if (redirect === 'here') return replyError(request.seq, 'ROOM_ELSEWHERE', `${e.message}: placed on this node, but the call asked for another placement again; call again`);
          return replyError(request.seq, e.code, e.message, redirect);
        },
        (why: unknown) => {
          this.stats.errors++;
          const plain = isRebindError(why) ? why : rebindError('FLEET_UNAVAILABLE', thrownMessage(why));
          return replyError(request.seq, plain.code, plain.message);
        },
      );
    }
    this.stats.errors++;
    return replyError(request.seq, e.code, e.message);
  }

  private call(conn: Connection, request: Request, arrivedAt: number | undefined): unknown {
    if (this.closing) throw rebindError('SHUTTING_DOWN', 'the server is shutting down');
    if (!conn.session) throw rebindError('NOT_JOINED', `join first: send ["$auth", seq, {...}] (or "$resume" with a token) before calling "${request.name}"`);
    return this.host.dispatcher.invoke(request.name, request.payload, conn.session.player, 'client', arrivedAt);
  }

  private system(conn: Connection, request: Request): unknown {
    switch (request.name) {
      case '$ping':
        return { now: wallNow() };
      case '$versions':
        return this.versions();
      case '$auth':
        return this.lifecycle.auth(conn, request.payload);
      case '$resume':
        return this.lifecycle.resume(conn, request.payload);
      case '$leave':
        return this.lifecycle.leave(conn);
      default:
        throw rebindError('UNKNOWN_HANDLER', `no system request named "${request.name}" (known: $auth, $resume, $leave, $ping, $versions)`);
    }
  }

  /** Cuts a player's connection at once (no close handshake); the session waits for a resume. */
  drop(player: string): boolean {
    const link = this.sessions.get(player)?.link;
    if (!link) return false;
    (link as Connection).terminate();
    return true;
  }

  /** Module name to its live version and content hash: what a client shows as "code version". */
  versions(): Record<string, { version: number; hash: string }> {
    const out: Record<string, { version: number; hash: string }> = {};
    for (const [name, v] of this.host.bindings.live) out[name] = { version: v.version, hash: v.hash };
    return out;
  }

  /** Tells every connection the new code versions after a patch (`$versions` push). */
  announceVersions(): void {
    const message = new EncodedOnce(push('$versions', this.versions()));
    for (const conn of this.connections) conn.deliver(message);
  }

  /** Ends a player's session here without waiting for its grace: it was adopted by another node. */
  release(player: string): void {
    const session = this.sessions.get(player);
    if (!session) return;
    const link = session.link as Connection | null;
    if (link) {
      link.session = undefined;
      link.close(CLOSE.replaced, 'this player continues on another node of the fleet');
    }
    this.lifecycle.end(session);
  }

  // Outbox: what logic's ctx.send/broadcast/join/leave do, after commit.
  send(player: string, event: string, payload: unknown): void {
    this.sessions.get(player)?.deliver(new EncodedOnce(push(event, payload)));
  }

  broadcast(room: string, event: string, payload: unknown): void {
    this.rooms.broadcast(room, new EncodedOnce(push(event, payload)));
  }

  join(room: string, player: string): void {
    const session = this.sessions.get(player);
    if (!session) {
      this.log.warn(`ctx.join("${room}", "${player}"): no such player connected`);
      return;
    }
    this.rooms.join(room, session);
    this.lifecycle.roomsChanged(player);
  }

  leave(room: string, player: string): void {
    this.rooms.leave(room, player);
    this.lifecycle.roomsChanged(player);
  }

  private readonly filterFailures = new Map<string, number>();

  /** A view filter that throws hides the row; said at most every 5 s per filter. */
  private filterFailed(name: string, err: unknown): void {
    const now = wallNow();
    if (now - (this.filterFailures.get(name) ?? 0) < 5000) return;
    this.filterFailures.set(name, now);
    this.log.error(`view filter ${name} failed (the row stays hidden): ${(err as Error)?.message ?? String(err)}`);
  }

  checkRoomView(view: RoomView): void {
    this.rooms.checkView(view);
  }

  setRoomView(room: string, view: RoomView): void {
    try {
      this.rooms.setView(room, view);
    } catch (err) {
      this.log.error(`ctx.setRoomView("${room}"): ${(err as Error).message}`);
    }
  }

  /** Stops taking requests, lets running calls finish, closes every client with 1001. */
  async close(drainMs = 5000): Promise<void> {
    this.closing = true;
    this.heartbeat.stop();
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => hostSetTimeout(r, drainMs).unref())]);
    for (const conn of this.connections) conn.close(CLOSE.goingAway, 'server shutting down');
    for (const session of this.sessions.all()) hostClearTimeout(session.graceTimer);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * Why a handler's result cannot be its reply, if it cannot: a reply carries plain data, as stores do
 * (store/plain.ts). A BigInt, a Map, a Date, a function or a toJSON used to reach a MessagePack
 * client as one value and a JSON client as another, or as nothing.
 */
function notPlainReply(handler: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  try {
    // The plain-data check first: it refuses a cycle, which the depth walk would follow to its limit.
    assertPlain(value, 'result');
    assertShallow(value, 'result');
    return undefined;
  } catch (err) {
    return `${handler} returned what a reply cannot carry (${thrownMessage(err)}): return plain data (objects, arrays, strings, finite numbers, booleans, null)`;
  }
}
