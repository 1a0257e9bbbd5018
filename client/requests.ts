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
      return flag === 1 ? { kind: 'reply', matched: false, error: body as ErrorBody } : { kind: 'reply', matched: false };
    }
    this.waiting.delete(head as number);
    if (flag === 0) waiter.resolve(body);
    else waiter.reject(this.toError(body as ErrorBody));
    return { kind: 'reply', matched: true };
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
