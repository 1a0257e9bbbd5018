import WebSocket from 'ws';
import { PendingRequests, type ErrorBody } from '../../client/requests.ts';
import type { AdminActionName, AdminActions } from '../../server/admin/protocol.ts';
import { CliError } from './cli-error.ts';

export { CliError } from './cli-error.ts';

// The CLI's end of the admin channel: JSON frames of the game protocol's
// shapes, the token in the Authorization header.

export interface AdminTarget {
  url: string;
  token: string;
  /** Where the token came from, for the message when it is refused. */
  tokenSource: string;
}

/** The largest reply the CLI takes (ws's own default, named here so that the message can say it). */
const MAX_REPLY_BYTES = 100 * 1024 * 1024;

export class AdminClient {
  private readonly requests = new PendingRequests((e) => this.refusal(e));
  private readonly listeners = new Set<(event: string, payload: unknown) => void>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly url: string,
  ) {
    ws.on('message', (data) => {
      const incoming = this.requests.receive(JSON.parse(String(data)) as unknown[]);
      if (incoming.kind === 'push') for (const l of this.listeners) l(incoming.event, incoming.payload);
    });
    // A reply over the limit makes ws close the socket itself: that is a result too big, not a server that went away.
    let tooBig = false;
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') tooBig = true;
    });
    ws.on('close', () =>
      this.requests.failAll(
        tooBig
          ? new CliError(`the reply was larger than the ${MAX_REPLY_BYTES / 1024 / 1024} MiB the CLI accepts, so the CLI closed the connection: the result is too big to print (the action itself ran on the server; ask for less: a row or path with rebind state, a handler that returns a part)`, 1, 'REPLY_TOO_LARGE')
          : new CliError('the server closed the admin connection', 2, 'DISCONNECTED'),
      ),
    );
  }

  /** The server's refusal; the game port answers any request before $auth with NOT_JOINED: the operator gave the wrong port. */
  private refusal(e: ErrorBody): CliError {
    if (e.code === 'NOT_JOINED' && e.message.includes('$auth')) {
      return new CliError(`${this.url} is a rebind game port, not the admin port: pass the admin address (by default ws://127.0.0.1:8081; the server prints it at start as "admin listening on ...")`, 2, 'GAME_PORT');
    }
    return new CliError(e.message, 1, e.code, true);
  }

  static connect(target: AdminTarget): Promise<AdminClient> {
    return new Promise((resolve, reject) => {
      // Longer than the server's longest answer to a wrong token (5 s), so a bad token is reported as one, not as a timeout.
      const ws = new WebSocket(target.url, { headers: { authorization: `Bearer ${target.token}` }, handshakeTimeout: 10_000, maxPayload: MAX_REPLY_BYTES });
      ws.once('open', () => resolve(new AdminClient(ws, target.url)));
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        if (res.statusCode === 401) {
          reject(new CliError(`the server refused the admin token (read from ${target.tokenSource}). Use the token in the server's <data>/admin.token, pass --token, or set REBIND_ADMIN_TOKEN.`, 2, 'BAD_TOKEN'));
        } else if (res.statusCode === 429) {
          reject(new CliError(`the admin port refused: too many connections from this address (it allows 32); close some (dashboards, scripts) and try again.`, 2, 'CONNECT_FAILED'));
        } else reject(new CliError(`${target.url} answered HTTP ${res.statusCode}: is that the rebind admin port?`, 2, 'CONNECT_FAILED'));
      });
      ws.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
        reject(new CliError(`cannot reach the rebind admin at ${target.url} (${why}). Is the server running (npm start)? Pass --server or set REBIND_SERVER if it listens elsewhere.`, 2, 'CONNECT_FAILED'));
      });
    });
  }

  request<A extends AdminActionName>(action: A, args: AdminActions[A]['args'] = {} as AdminActions[A]['args']): Promise<AdminActions[A]['reply']> {
    const { frame, reply } = this.requests.start<AdminActions[A]['reply']>(action, args);
    this.ws.send(JSON.stringify(frame));
    return reply;
  }

  onPush(listener: (event: string, payload: unknown) => void): void {
    this.listeners.add(listener);
  }

  close(): void {
    this.ws.close();
  }
}
