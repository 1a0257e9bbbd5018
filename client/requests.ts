// Request/reply matching, the one copy used by the client library, the CLI
// and the dashboard. Every channel of rebind (the game port and the admin
// port) frames a request as [name, seq, payload] and its answer as
// [seq, 0, result] or [seq, 1, {code, message}]; a frame whose first element
// is a string is a push. No I/O here: the caller sends and receives.

export interface ErrorBody {
  code: string;
  message: string;
  /** In a fleet: the node that holds what was asked for, and a one-time ticket it accepts (docs/protocol.md). */
  redirect?: Redirect;
}

export interface Redirect {
  url: string;
  node: string;
  player: string;
  ticket: string;
  room?: string;
}

/** What a received frame turned out to be. */
export type Incoming =
  | { kind: 'push'; event: string; payload: unknown }
  | { kind: 'reply'; matched: true }
  | { kind: 'reply'; matched: false; error?: ErrorBody };

export class PendingRequests {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (value: any) => void; reject: (err: Error) => void }>();
  /** Replies that matched no request (a duplicate or a stray reply: should stay 0). */
  unmatched = 0;

  /** @param toError how this channel turns an error reply into an Error. */
  constructor(private readonly toError: (body: ErrorBody) => Error) {}

  /** Registers a request and returns its frame; the promise settles when its reply is read. */
  start<T>(name: string, payload: unknown): { frame: [string, number, unknown]; reply: Promise<T> } {
    const seq = ++this.seq;
    const reply = new Promise<T>((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    return { frame: [name, seq, payload], reply };
  }

  /** Sorts out a decoded frame: a push, or a reply that settles its request. */
  receive(message: unknown[]): Incoming {
    const [head, flag, body] = message;
    if (typeof head === 'string') return { kind: 'push', event: head, payload: body };
    const waiter = this.waiting.get(head as number);
    if (!waiter) {
      this.unmatched++;
      return flag === 1 ? { kind: 'reply', matched: false, error: errorBody(body) } : { kind: 'reply', matched: false };
    }
    this.waiting.delete(head as number);
    if (flag === 0) waiter.resolve(body);
    else waiter.reject(this.toError(errorBody(body)));
    return { kind: 'reply', matched: true };
  }

  /** An error body as this channel's Error (a reply that settled no request, say). */
  error(body: ErrorBody): Error {
    return this.toError(body);
  }

  /** Rejects every request still waiting (the connection is gone). */
  failAll(err: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }

  get size(): number {
    return this.waiting.size;
  }
}

/** An error reply's body as {code, message}; one that is not (a server that breaks the protocol) says so, as BAD_FRAME. */
function errorBody(body: unknown): ErrorBody {
  if (body !== null && typeof body === 'object' && typeof (body as ErrorBody).code === 'string') {
    const { code, message, redirect } = body as ErrorBody;
    return { code, message: typeof message === 'string' ? message : '', ...(isRedirect(redirect) ? { redirect } : {}) };
  }
  let shown: string;
  try {
    shown = JSON.stringify(body)?.slice(0, 200) ?? String(body);
  } catch {
    shown = typeof body;
  }
  return { code: 'BAD_FRAME', message: `the server answered with an error that is not {code, message}: ${shown}` };
}

/** Whether a value is a redirect the client can follow: {url, node, player, ticket} (docs/protocol.md). */
export function isRedirect(value: unknown): value is Redirect {
  if (value === null || typeof value !== 'object') return false;
  const { url, node, player, ticket } = value as Record<string, unknown>;
  return typeof url === 'string' && typeof node === 'string' && typeof player === 'string' && typeof ticket === 'string';
}
