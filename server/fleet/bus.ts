import { types } from 'node:util';
import { randomUUID } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { isRebindError, rebindError, type RebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { redisWhy, type FleetConnections } from './redis.ts';

// Messages between the nodes of a fleet, over Redis pub/sub: every node
// listens on its own channel and on the fleet's "all" channel. A message is
// fire-and-forget (Redis keeps nothing for a node that is not listening), so
// whatever must not be lost is a request: the receiver's handler answers, the
// answer is matched to the request by id, and no answer in time is a typed
// error the caller decides about.

const log = createLogger('fleet');

/** The kind of message that carries an answer; no handler may take it. */
const REPLY = 'fleet.reply';

interface Frame {
  /** kind */
  k: string;
  /** from (node id) */
  f: string;
  /** request id, when an answer is wanted */
  i?: string;
  /** the request id this frame answers */
  r?: string;
  /** payload */
  p?: unknown;
  /** error of an answer: {code, message, details} */
  e?: { code: string; message: string; details?: Record<string, unknown> };
}

export type Handler = (payload: unknown, from: string) => unknown;

interface Pending {
  resolve(value: unknown): void;
  reject(err: RebindError): void;
  timer: NodeJS.Timeout;
}

export class FleetBus {
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<string, Pending>();
  /** Messages this node published and received (every kind, replies included): read by /metrics. */
  readonly counts = { sent: 0, received: 0 };

  constructor(
    private readonly redis: FleetConnections,
    private readonly nodeId: string,
    private readonly channel: (to: string) => string,
  ) {
    redis.subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message));
    void redis.subscriber.subscribe(channel(nodeId), channel('all')).catch((err: Error) => log.info(`fleet: not subscribed yet (${redisWhy(err)}); subscribing again when Redis answers`));
  }

  /** One handler per kind: its return value (or promise) is the answer to a request. */
  on(kind: string, handler: Handler): void {
    if (kind === REPLY) throw new Error(`"${REPLY}" is the fleet's own kind`);
    if (this.handlers.has(kind)) throw new Error(`fleet message kind "${kind}" has a handler already`);
    this.handlers.set(kind, handler);
  }

  /** Sends to one node or to all (this node included); resolves to the number of nodes that were listening. */
  async publish(to: string, kind: string, payload: unknown): Promise<number> {
    return this.send(to, { k: kind, f: this.nodeId, p: payload });
  }

  /**
   * Asks one node and waits for its handler's answer. NODE_GONE when no node
   * listens on that id, FLEET_TIMEOUT when no answer comes in time,
   * FLEET_UNAVAILABLE when Redis is down; the handler's own error as it was thrown.
   */
  async request(to: string, kind: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const id = randomUUID();
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(rebindError('FLEET_TIMEOUT', `node ${to} did not answer "${kind}" within ${timeoutMs} ms`, { details: { node: to, kind } }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    // The answer may come before publish's own reply: the pending entry exists first.
    answer.catch(() => undefined);
    try {
      const listening = await this.send(to, { k: kind, f: this.nodeId, i: id, p: payload });
      if (listening === 0) throw rebindError('NODE_GONE', `node ${to} is not in the fleet (nobody listens on its channel)`, { details: { node: to, kind } });
    } catch (err) {
      this.settle(id)?.reject(err as RebindError);
    }
    return answer;
  }

  /** Fails every request still waiting (the node is leaving). */
  close(): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(rebindError('SHUTTING_DOWN', 'this node is leaving the fleet'));
  }

  private async send(to: string, frame: Frame): Promise<number> {
    const bytes = pack(frame);
    const listening = await this.redis.run((r) => r.publish(this.channel(to), bytes));
    this.counts.sent++;
    return listening;
  }

  private settle(id: string): Pending | undefined {
    const waiting = this.pending.get(id);
    if (!waiting) return undefined;
    this.pending.delete(id);
    clearTimeout(waiting.timer);
    return waiting;
  }

  private receive(message: Buffer): void {
    this.counts.received++;
    let frame: Frame;
    try {
      frame = unpack(message) as Frame;
      if (typeof frame?.k !== 'string' || typeof frame.f !== 'string') throw new Error('no kind or sender');
    } catch (err) {
      log.warn(`fleet: a message that is not a fleet frame was dropped (${(err as Error).message})`);
      return;
    }
    if (frame.k === REPLY) {
      const waiting = this.settle(frame.r ?? '');
      if (!waiting) return; // answered after its deadline: the caller has moved on
      if (frame.e) waiting.reject(rebindError(frame.e.code, frame.e.message, frame.e.details ? { details: frame.e.details } : {}));
      else waiting.resolve(frame.p);
      return;
    }
    const handler = this.handlers.get(frame.k);
    if (!handler) {
      if (frame.i) void this.answer(frame, undefined, rebindError('BAD_REQUEST', `node ${this.nodeId} has no handler for fleet message "${frame.k}"`));
      return;
    }
    let result: unknown;
    try {
      result = handler(frame.p, frame.f);
    } catch (err) {
      if (frame.i) void this.answer(frame, undefined, err);
      else log.warn(`fleet: handler of "${frame.k}" from ${frame.f} failed: ${(err as Error).message}`);
      return;
    }
    if (!frame.i) {
      if (types.isPromise(result)) result.catch((err: Error) => log.warn(`fleet: handler of "${frame.k}" from ${frame.f} failed: ${err.message}`));
      return;
    }
    void Promise.resolve(result).then(
      (value) => this.answer(frame, value, undefined),
      (err: unknown) => this.answer(frame, undefined, err),
    );
  }

  private async answer(frame: Frame, value: unknown, err: unknown): Promise<void> {
    const reply: Frame = { k: REPLY, f: this.nodeId, r: frame.i! };
    if (err !== undefined) {
      reply.e = isRebindError(err)
        ? { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }
        : { code: 'HANDLER_ERROR', message: err instanceof Error ? err.message : String(err) };
    } else reply.p = value;
    try {
      await this.send(frame.f, reply);
    } catch (e) {
      log.warn(`fleet: could not answer "${frame.k}" to ${frame.f}: ${(e as Error).message}`);
    }
  }
}
