import { PATCH_PUSH } from './protocol.ts';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { DEFAULT_GUARD, guardedServer, listen, type GuardOptions } from '../net/guard.ts';
import type { PatchRecord } from '../patch/history.ts';
import { AuditLog, type AuditEntry } from './audit.ts';
import { originAllowed } from './origin.ts';
import { tokenMatches, type AdminToken } from './token.ts';
import { trimForAudit } from './audit-trim.ts';
import { answerBadRequest, neverThrows, refuseSocket, requestUrl } from '../net/http-safety.ts';
import { hostSetTimeout } from '../host-globals.ts';
import { describeThrown, thrownMessage } from '../thrown.ts';
import { readThrown } from '../patch/dispatch.ts';
import { errorBody, jsonOnce, parsedIfSmall } from './result-json.ts';

// The operators' channel: a WebSocket listener of its own, on loopback by
// default, that accepts only connections presenting the admin token (header
// `Authorization: Bearer <token>`, or `?token=` for a browser). Requests and
// replies have the game protocol's shapes, in JSON:
//   ["patch", 1, {"modules": ["chat"]}]  ->  [1, 0, <patch record>]
// The server pushes ["patch", 0, record] to every admin connection as patches land.

/** `applied`: an action whose answer waits (a patch under --verify) calls it once the change is made, so the audit line is written then, not only at the answer. */
export type AdminAction = (args: Record<string, unknown>, by: string, applied: (result: unknown) => void) => unknown;

export interface AdminOptions {
  host: string;
  port: number;
  token: AdminToken;
  dataDir: string;
  actions: Record<string, AdminAction>;
  /** Actions that only read: logged once per connection, so a live dashboard polling them does not flood the audit log. */
  readOnly?: Set<string>;
  /** Plain HTTP on the admin port (the dashboard's page, which asks for the token). */
  onHttp?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
  httpTimeouts?: Partial<Pick<GuardOptions, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxPending'>>;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.|localhost$)/;

/** Sockets one address may hold on the admin port: a CLI and a few dashboards need far fewer. */
const ADMIN_PER_ADDRESS = 32;
/** Admin sockets, from all addresses, still before their upgrade: past it the oldest goes. */
const ADMIN_PENDING = 64;

/** What a client says it is (`cli`, `dashboard`, a name), kept apart from the address the server saw. */
function claimedName(value: unknown): string {
  // No '@' survives: in `name@address` the address is always the one the server saw.
  return typeof value === 'string' && value.length > 0 ? value.slice(0, 40).replace(/[^\w-]/g, '_') : 'cli';
}

export class AdminServer {
  readonly audit: AuditLog;
  private readonly http: HttpServer;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  private readonly failures = new Map<string, number>();
  private readonly authenticated = new WeakSet<object>();
  private readonly log = createLogger('admin');

  private constructor(private readonly options: AdminOptions) {
    this.audit = new AuditLog(options.dataDir);
    const { http, guard } = guardedServer({ ...DEFAULT_GUARD, maxPending: ADMIN_PENDING, ...options.httpTimeouts, maxPerAddress: ADMIN_PER_ADDRESS, capFlag: 'fixed for the admin port' });
    this.http = http;
    // At the cap, a socket that has not shown the token for a second makes room: idle sockets cannot lock the operator out.
    guard.idle = (socket) => !this.authenticated.has(socket);
    this.http.on('request', neverThrows('admin port', (req, res) => this.onRequest(req, res)));
    this.http.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket as Socket, head));
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
  }

  static async start(options: AdminOptions): Promise<AdminServer> {
    const admin = new AdminServer(options);
    if (!LOOPBACK.test(options.host)) {
      admin.log.warn(`the admin listener is bound to ${options.host}, not loopback: anyone who can reach it and holds the token can patch this server`);
    }
    await listen(admin.http, options.port, options.host, 'admin', '--admin-port (REBIND_ADMIN_PORT)');
    return admin;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    const { address, port } = this.http.address() as AddressInfo;
    return `ws://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  get tokenSource(): string {
    return this.options.token.source;
  }

  /** Pushes a landed (or rejected) patch to every admin connection. */
  announce(record: PatchRecord): void {
    const frame = JSON.stringify([PATCH_PUSH, 0, record]);
    for (const ws of this.wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(frame);
  }

  private presented(req: IncomingMessage, url: URL): string | undefined {
    const header = req.headers.authorization;
    // The scheme is case-insensitive (RFC 9110): "bearer x" is "Bearer x".
    const bearer = header === undefined ? undefined : /^bearer\s+(.*)$/is.exec(header);
    if (bearer) return bearer[1]!.trim();
    return url.searchParams.get('token') ?? undefined;
  }

  /**
   * A refused attempt (a wrong token, a foreign browser origin): counted per
   * address, logged only at failures 1, 2, 4, 8... in a row (a flood says how
   * big it is without filling the disk), answered after a delay that doubles
   * each time.
   */
  async refused(req: IncomingMessage, why: string, by?: string): Promise<void> {
    const address = req.socket.remoteAddress ?? '?';
    const failures = (this.failures.get(address) ?? 0) + 1;
    this.failures.delete(address);
    this.failures.set(address, failures);
    // Bounded, oldest first out: an admin port open to many addresses cannot grow it without end.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
    if ((failures & (failures - 1)) === 0) {
      const browserOrigin = req.headers.origin;
      this.record({
        action: 'auth',
        origin: browserOrigin === undefined ? (by ?? claimedName(undefined)) : 'browser',
        address,
        ...(browserOrigin === undefined ? {} : { browserOrigin: browserOrigin.slice(0, 200) }),
        ok: false,
        result: `${why} (failure ${failures} in a row)`,
      });
    }
    await new Promise((resolve) => hostSetTimeout(resolve, Math.min(5000, 100 * 2 ** (failures - 1))));
  }

  /** A right token: the address's run of failures is over (also for GET /metrics). */
  accepted(req: IncomingMessage): void {
    this.failures.delete(req.socket.remoteAddress ?? '?');
  }

  /** Every audit line keeps the claimed name (origin) and the address the server saw apart; what the client sent is cut to size. */
  private record(entry: AuditEntry & { address: string; browserOrigin?: string }): void {
    this.audit.write(entry.args === undefined ? entry : { ...entry, args: trimForAudit(entry.args) });
  }

  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // Nothing here may reject: an unhandled rejection per request would flood the log, and the
    // socket (which HTTP no longer times out after 'upgrade') would be left open.
    try {
      await this.upgrade(req, socket, head);
    } catch (err) {
      this.log.error(`an admin upgrade failed: ${describeThrown(err)}`);
      refuseSocket(socket, '500 Internal Server Error', 'internal error\n');
    }
  }

  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // The guard gave this socket an 'error' listener: a reset at any point below is harmless.
    const url = requestUrl(req, 'http://admin');
    if (!url) {
      refuseSocket(socket, '400 Bad Request', 'bad request URL\n');
      return;
    }
    if (!originAllowed(req)) {
      await this.refused(req, `refused browser origin ${String(req.headers.origin).slice(0, 200)}`);
      refuseSocket(socket, '403 Forbidden', 'the admin port accepts browsers only from its own dashboard page\n');
      return;
    }
    if (!tokenMatches(this.options.token.value, this.presented(req, url))) {
      await this.refused(req, 'bad token');
      // The client may have given up during the delay.
      refuseSocket(socket, '401 Unauthorized', 'bad admin token\n');
      return;
    }
    this.failures.delete(req.socket.remoteAddress ?? '?');
    if (socket.destroyed || !socket.writable) return;
    this.authenticated.add(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = requestUrl(req, 'http://admin');
    if (!url) return answerBadRequest(res);
    // The dashboard's page holds no data; the socket it opens must present the token.
    if (this.options.onHttp?.(req, res, url)) return;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('rebind admin: connect with the rebind CLI\n');
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const address = req.socket.remoteAddress ?? '?';
    const readsLogged = new Set<string>();
    ws.on('error', () => undefined);
    ws.on('message', (data) => void this.onMessage(ws, address, String(data), readsLogged));
  }

  private async onMessage(ws: WebSocket, address: string, text: string, readsLogged: Set<string>): Promise<void> {
    let seq = 0;
    try {
      const message = JSON.parse(text) as unknown;
      if (!Array.isArray(message) || message.length !== 3 || typeof message[0] !== 'string' || typeof message[1] !== 'number') {
        throw rebindError('BAD_FRAME', 'an admin request is ["action", seq, {args}] in JSON');
      }
      seq = message[1];
      const [name, , rawArgs] = message as [string, number, unknown];
      const args = rawArgs && typeof rawArgs === 'object' ? (rawArgs as Record<string, unknown>) : {};
      // Own keys only: "constructor" or "toString" are not actions.
      const action = Object.hasOwn(this.options.actions, name) ? this.options.actions[name] : undefined;
      if (!action) throw rebindError('UNKNOWN_ACTION', `no admin action "${name}" (known: ${Object.keys(this.options.actions).join(', ')})`);
      const origin = claimedName(args.origin);
      const by = `${origin}@${address}`;
      // The result is read once, into its JSON text (result-json.ts); the reply and the audit line are made from that.
      let encoded: string;
      try {
        const applied = (r: unknown) => this.record({ action: name, origin, address, args, ok: (r as PatchRecord | null)?.ok !== false, result: { applied: summarize(jsonOnce(r, 'the patch record')) } });
        encoded = jsonOnce(await action(args, by, applied), 'the reply');
      } catch (err) {
        // Audited however it failed, also after it took effect (a call that wrote, then returned what JSON cannot carry).
        const { coded } = readThrown(err);
        this.record({ action: name, origin, address, args, ok: false, result: coded ? errorBody(coded) : thrownMessage(err) });
        throw err;
      }
      const result = parsedIfSmall(encoded) as { ok?: unknown; verification?: { outcome?: string } } | null | undefined;
      // A windowed patch that its verification rolled back (or could not) did not end well: its closing line says so.
      const outcome = result?.verification?.outcome;
      const failedPatch = result?.ok === false || outcome === 'rolled-back' || outcome === 'failed-to-roll-back';
      const polled = this.options.readOnly?.has(name) && readsLogged.has(name);
      if (!polled || failedPatch) this.record({ action: name, origin, address, args, ok: !failedPatch, result: summarize(encoded, result) });
      if (this.options.readOnly?.has(name)) readsLogged.add(name);
      if (seq !== 0) ws.send(`[${JSON.stringify(seq)},0,${encoded}]`);
    } catch (err) {
      const { coded } = readThrown(err);
      const body = coded ? errorBody(coded) : { code: 'BAD_REQUEST', message: thrownMessage(err) };
      if (seq !== 0 || body.code === 'BAD_FRAME') ws.send(JSON.stringify([seq, 1, body]));
    }
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
  }
}

/** What the audit log keeps of a result (its JSON text, and that text parsed back when small): enough to know what happened, not a dump of state. */
function summarize(text: string, result: unknown = parsedIfSmall(text)): unknown {
  if (result && typeof result === 'object' && 'modules' in result && 'ok' in result) {
    const r = result as PatchRecord;
    const v = (result as { verification?: { outcome: string; reason?: string } }).verification;
    return {
      id: r.id,
      ok: r.ok,
      noop: r.noop,
      modules: r.modules.map((m) => `${m.module}:${m.change}:v${m.oldVersion ?? '-'}->v${m.newVersion ?? '-'}`),
      error: r.error?.code,
      ...(v ? { verification: { outcome: v.outcome, ...(v.reason ? { reason: v.reason } : {}) } } : {}),
    };
  }
  return text.length > 500 ? `${text.slice(0, 500)}...` : result;
}
