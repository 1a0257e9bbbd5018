import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { RoomView } from '../api.ts';
import { isRebindError, rebindError, type RebindError } from '../errors.ts';
import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import type { Outbox } from '../patch/dispatch.ts';
import { CLOSE, Connection } from './connection.ts';
import { EncodedOnce, push, replyError, replyOk, type Request } from './codec.ts';
import { DEFAULT_LIMITS, type NetLimits } from './limits.ts';
import { Rooms } from './rooms.ts';
import { Session, Sessions } from './sessions.ts';

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
  /** Resolves when the writes a reply depends on are durable (fsync always). */
  beforeReply?: () => Promise<void> | undefined;
}

export { CLOSE };

export class Gateway implements Outbox {
  readonly rooms: Rooms;
  readonly sessions = new Sessions();
  readonly limits: NetLimits;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly log = createLogger('net');
  private closing = false;
  readonly graceMs: number;
  readonly sessionModule: string;
  stats = { messages: 0, errors: 0, connectionsTotal: 0 };

  constructor(
    readonly host: Host,
    server: HttpServer,
    readonly options: GatewayOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.graceMs = options.graceMs ?? 30_000;
    this.sessionModule = options.sessionModule ?? 'session';
    this.rooms = new Rooms(host.registry);
    this.wss = new WebSocketServer({ server, maxPayload: this.limits.maxFrameBytes, perMessageDeflate: options.deflate === true });
    this.wss.on('connection', (ws, req) => this.accept(ws, req));
    host.outbox = this;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    if (this.closing) {
      ws.close(CLOSE.goingAway, 'server shutting down');
      return;
    }
    if (this.connections.size >= this.limits.maxConnections) {
      ws.close(CLOSE.tryAgainLater, `server full (${this.limits.maxConnections} connections)`);
      return;
    }
    const conn = new Connection(this, ws, req.socket.remoteAddress ?? '?');
    this.connections.add(conn);
    this.stats.connectionsTotal++;
    ws.on('close', () => {
      this.connections.delete(conn);
      this.disconnected(conn);
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Runs a request; resolves to the reply to send (undefined for seq 0). */
  handle(conn: Connection, request: Request): unknown[] | Promise<unknown[]> | undefined {
    this.stats.messages++;
    let result: unknown;
    try {
      result = request.name.startsWith('$') ? this.system(conn, request) : this.call(conn, request);
    } catch (err) {
      return this.errorReply(request, err);
    }
    const reply = result instanceof Promise ? result.then((value) => this.afterDurable(request, value), (err: unknown) => this.errorReply(request, err)) : this.afterDurable(request, result);
    if (reply instanceof Promise) {
      // Shutdown waits for these: calls still running, and replies waiting for their fsync.
      this.inFlight.add(reply);
      void reply.finally(() => this.inFlight.delete(reply));
    }
    return reply;
  }

  /** The reply, once the writes it reports are durable (only `--fsync always` makes it wait). */
  private afterDurable(request: Request, value: unknown): unknown[] | Promise<unknown[]> {
    const gate = this.options.beforeReply?.();
    if (!gate) return replyOk(request.seq, value);
    return gate.then(
      () => replyOk(request.seq, value),
      (err: unknown) => this.errorReply(request, err),
    );
  }

  private errorReply(request: Request, err: unknown): unknown[] {
    this.stats.errors++;
    const e: RebindError = isRebindError(err) ? err : rebindError('HANDLER_ERROR', err instanceof Error ? err.message : String(err));
    return replyError(request.seq, e.code, e.message);
  }

  private call(conn: Connection, request: Request): unknown {
    if (this.closing) throw rebindError('SHUTTING_DOWN', 'the server is shutting down');
    if (!conn.session) throw rebindError('NOT_JOINED', `join first: send ["$auth", seq, {...}] (or "$resume" with a token) before calling "${request.name}"`);
    return this.host.dispatcher.invoke(request.name, request.payload, conn.session.player, 'client');
  }

  private hook(name: 'join' | 'leave' | 'drop' | 'resume', player: string): void {
    const handler = `${this.sessionModule}.${name}`;
    if (!this.host.bindings.resolve(handler)) return;
    try {
      const result = this.host.dispatcher.invoke(handler, null, player, 'system');
      if (result instanceof Promise) result.catch((err: unknown) => this.log.error(`${handler} failed: ${(err as Error).message}`));
    } catch (err) {
      this.log.error(`${handler} failed: ${(err as Error).message}`);
    }
  }

  private system(conn: Connection, request: Request): unknown {
    switch (request.name) {
      case '$ping':
        return { now: Date.now() };
      case '$versions':
        return this.versions();
      case '$auth':
        return this.auth(conn, request.payload);
      case '$resume':
        return this.resume(conn, request.payload);
      case '$leave': {
        const session = conn.session;
        if (!session) throw rebindError('NOT_JOINED', 'not joined');
        conn.session = undefined;
        this.end(session);
        return { left: session.player };
      }
      default:
        throw rebindError('UNKNOWN_HANDLER', `no system request named "${request.name}" (known: $auth, $resume, $leave, $ping, $versions)`);
    }
  }

  private auth(conn: Connection, payload: unknown): unknown {
    if (conn.session) throw rebindError('BAD_REQUEST', `already joined as "${conn.session.player}"`);
    const handler = `${this.sessionModule}.auth`;
    if (!this.host.bindings.resolve(handler)) {
      throw rebindError('UNKNOWN_HANDLER', `no auth hook: export a handler "auth" from logic/${this.sessionModule}.ts`);
    }
    const result = this.host.dispatcher.invoke(handler, payload, null, 'system');
    const admit = (value: unknown) => {
      const player = typeof value === 'string' ? value : (value as { player?: unknown } | null)?.player;
      if (typeof player !== 'string' || player.length === 0) throw rebindError('AUTH_FAILED', `${handler} must return a player id (a non-empty string)`);
      return this.admit(conn, player);
    };
    return result instanceof Promise ? result.then(admit) : admit(result);
  }

  private admit(conn: Connection, player: string): unknown {
    const existing = this.sessions.get(player);
    if (existing) {
      // The same player again (another tab, a client that lost its token): take over the session.
      this.attach(existing, conn, 'resume');
      return { player, token: existing.token, graceMs: this.graceMs, resumed: true };
    }
    const session = new Session(player, conn);
    conn.session = session;
    this.sessions.add(session);
    this.hook('join', player);
    return { player, token: session.token, graceMs: this.graceMs, resumed: false };
  }

  private resume(conn: Connection, payload: unknown): unknown {
    if (conn.session) throw rebindError('BAD_REQUEST', `already joined as "${conn.session.player}"`);
    const session = this.sessions.byResumeToken((payload as { token?: unknown } | null)?.token);
    if (!session) throw rebindError('RESUME_FAILED', 'unknown or expired resume token: join again with $auth');
    this.attach(session, conn, 'resume');
    return { player: session.player, token: session.token, graceMs: this.graceMs, resumed: true };
  }

  private attach(session: Session, conn: Connection, hook: 'resume'): void {
    const old = session.link;
    if (old && old !== conn) {
      (old as Connection).session = undefined;
      old.close(CLOSE.replaced, 'replaced by a new connection for the same player');
    }
    clearTimeout(session.graceTimer);
    session.graceTimer = undefined;
    session.link = conn;
    conn.session = session;
    this.sessions.rotate(session);
    this.rooms.rejoin(session);
    this.hook(hook, session.player);
  }

  private disconnected(conn: Connection): void {
    const session = conn.session;
    if (!session || session.link !== conn) return;
    session.link = null;
    this.hook('drop', session.player);
    session.graceTimer = setTimeout(() => this.end(session), this.graceMs);
  }

  /** The player is gone for good: logic hears `leave`, rooms forget them. */
  private end(session: Session): void {
    this.sessions.remove(session);
    this.hook('leave', session.player);
    this.rooms.leaveAll(session.player);
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
  }

  leave(room: string, player: string): void {
    this.rooms.leave(room, player);
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
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, drainMs).unref())]);
    for (const conn of this.connections) conn.close(CLOSE.goingAway, 'server shutting down');
    for (const session of this.sessions.all()) clearTimeout(session.graceTimer);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
