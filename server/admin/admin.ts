import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { isRebindError, rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { PatchRecord } from '../patch/history.ts';
import { AuditLog } from './audit.ts';
import { tokenMatches, type AdminToken } from './token.ts';

// The operators' channel: a WebSocket listener of its own, on loopback by
// default, that accepts only connections presenting the admin token (header
// `Authorization: Bearer <token>`, or `?token=` for a browser). Requests and
// replies have the game protocol's shapes, in JSON:
//   ["patch", 1, {"modules": ["chat"]}]  ->  [1, 0, <patch record>]
// The server pushes ["patch", 0, record] to every admin connection as patches land.

export type AdminAction = (args: Record<string, unknown>, by: string) => unknown;

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
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.|localhost$)/;

export class AdminServer {
  readonly audit: AuditLog;
  private readonly http: HttpServer;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  private readonly failures = new Map<string, number>();
  private readonly log = createLogger('admin');

  private constructor(private readonly options: AdminOptions) {
    this.audit = new AuditLog(options.dataDir);
    this.http = createServer((req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket as Socket, head));
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
  }

  static async start(options: AdminOptions): Promise<AdminServer> {
    const admin = new AdminServer(options);
    if (!LOOPBACK.test(options.host)) {
      admin.log.warn(`the admin listener is bound to ${options.host}, not loopback: anyone who can reach it and holds the token can patch this server`);
    }
    await new Promise<void>((resolve, reject) => {
      admin.http.once('error', reject);
      admin.http.listen(options.port, options.host, () => {
        admin.http.off('error', reject);
        resolve();
      });
    });
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
    const frame = JSON.stringify(['patch', 0, record]);
    for (const ws of this.wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(frame);
  }

  private presented(req: IncomingMessage, url: URL): string | undefined {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice(7).trim();
    return url.searchParams.get('token') ?? undefined;
  }

  /** Checks the token; on failure waits longer each time for that address, then says no. */
  private async authorized(req: IncomingMessage, url: URL): Promise<boolean> {
    const address = req.socket.remoteAddress ?? '?';
    if (tokenMatches(this.options.token.value, this.presented(req, url))) {
      this.failures.delete(address);
      return true;
    }
    const failures = (this.failures.get(address) ?? 0) + 1;
    this.failures.set(address, failures);
    this.audit.write({ action: 'auth', origin: address, ok: false, result: `bad token (failure ${failures} in a row)` });
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** (failures - 1))));
    return false;
  }

  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (!(await this.authorized(req, url))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nbad admin token\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
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
      const action = this.options.actions[name];
      if (!action) throw rebindError('UNKNOWN_HANDLER', `no admin action "${name}" (known: ${Object.keys(this.options.actions).join(', ')})`);
      const by = `${typeof args.origin === 'string' ? args.origin : 'cli'}@${address}`;
      let result: unknown;
      try {
        result = await action(args, by);
      } catch (err) {
        this.audit.write({ action: name, origin: by, args, ok: false, result: isRebindError(err) ? err.toJSON() : String(err) });
        throw err;
      }
      const failedPatch = (result as PatchRecord | null)?.ok === false;
      const polled = this.options.readOnly?.has(name) && readsLogged.has(name);
      if (!polled || failedPatch) this.audit.write({ action: name, origin: by, args, ok: !failedPatch, result: summarize(result) });
      if (this.options.readOnly?.has(name)) readsLogged.add(name);
      if (seq !== 0) ws.send(JSON.stringify([seq, 0, result ?? null]));
    } catch (err) {
      const e = isRebindError(err) ? err : rebindError('BAD_REQUEST', err instanceof Error ? err.message : String(err));
      if (seq !== 0 || e.code === 'BAD_FRAME') ws.send(JSON.stringify([seq, 1, e.toJSON()]));
    }
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
  }
}

/** What the audit log keeps of a result: enough to know what happened, not a dump of state. */
function summarize(result: unknown): unknown {
  if (result && typeof result === 'object' && 'modules' in result && 'ok' in result) {
    const r = result as PatchRecord;
    return { id: r.id, ok: r.ok, noop: r.noop, modules: r.modules.map((m) => `${m.module}:${m.change}:v${m.oldVersion ?? '-'}->v${m.newVersion ?? '-'}`), error: r.error?.code };
  }
  const text = JSON.stringify(result);
  return text && text.length > 500 ? `${text.slice(0, 500)}...` : result;
}
