import { randomBytes } from 'node:crypto';
import { createLogger } from '../log.ts';
import type { Gateway } from '../net/gateway.ts';
import { HeldPushes, holdLimitsFrom, type Held, type Item } from './held-pushes.ts';
import type { FleetNode } from './node.ts';
import type { Presence } from './presence.ts';
import { SeenPushes } from './seen-pushes.ts';

// ctx.send and ctx.broadcast to players and rooms of other nodes, after the
// commit. What one node sends another within one turn of the event loop goes
// as one message (a PUBLISH per node and turn, not per push), and where a
// player is comes from a short-lived cache of presence. A cache that is out of
// date costs one hop, never a message: a node that receives a push for a
// player it does not hold looks the player up afresh and passes it on, once.
//
// While Redis is down, pushes are held (held-pushes.ts: bounded by count,
// bytes and age) and delivered once it is back, in the order they were sent;
// while any is held for a player or a room, new pushes for it queue behind
// them, so that each target gets its pushes in order. A held push is sent until a node takes it (one that has
// not subscribed again yet is tried again) or it is too old: then it is lost.
// A push held after its PUBLISH got no answer may have been run by Redis
// too (a frozen Redis runs it when it wakes): every push crosses with this
// process's mark and its order of sending, and the receiver takes each once
// (seen-pushes.ts).

const log = createLogger('fleet');
/** How long a player's node is trusted without asking Redis again. */
const PRESENCE_CACHE_MS = 2000;
/** Between two tries at delivering held pushes that found no taker (a node not listening again yet, presence not rewritten yet). */
const RETRY_HELD_MS = 250;

/** What one PUBLISH carries: the sending process's mark and each push with its place in that process's order of sending. */
interface Batch {
  from: string;
  pushes: Array<[seq: number, item: Item]>;
}

export class Deliveries {
  /** Per node, what goes in the next PUBLISH, with each push's place in this node's order of sending. */
  private readonly outgoing = new Map<string, Array<{ item: Item; seq: number }>>();
  private sent = 0;
  private flushing = false;
  private readonly whereIs = new Map<string, { node: string; at: number } | Promise<string | undefined>>();
  private readonly held: HeldPushes;
  private draining = false;
  /** This process's mark on its pushes (a restarted node sends from 0 again): a receiver takes each (mark, seq) once. */
  private readonly mark = randomBytes(6).toString('base64url');
  private readonly seen = new SeenPushes();

  constructor(
    private readonly node: FleetNode,
    private readonly gateway: Gateway,
    private readonly presence: Presence,
    /** The node of a room's members, or undefined while this node cannot tell yet. */
    private readonly roomNode: (room: string) => string | undefined,
  ) {
    const { limits, problem } = holdLimitsFrom(process.env.REBIND_FLEET_HOLD_MS);
    if (problem) log.error(`fleet: ${problem}`);
    this.held = new HeldPushes(limits);
    node.on('fleet.deliver', (batch, from) => {
      const { from: mark, pushes } = batch as Batch;
      const seen = this.seen.of(`${from} ${mark}`);
      for (const [seq, item] of pushes) if (seen.first(seq)) this.receive(item);
    });
    node.lostPushes.held = () => this.held.size;
    node.events.on('redis-up', () => void this.drain());
    node.events.on('node-lost', (id) => void this.settleFor(id));
  }

  /**
   * A node reported lost takes nothing any more: what is held for it is
   * settled now, not at the hold's end. A push for one of its players goes to
   * the node presence names now (the player was adopted there), and is lost
   * when presence still names the lost node or nobody; a broadcast to one of
   * its rooms is lost (its rooms were freed with it: no node holds them).
   */
  private async settleFor(lost: string): Promise<void> {
    // A player's push held before its node was known (Redis went down while asking) is the lost node's if presence says so.
    const forIt = (h: Held) => (h.node ?? h.triedAt) === lost || (h.item[0] === 'p' && (h.node ?? h.triedAt) === undefined);
    const players = [...new Set(this.held.snapshot().filter((h) => forIt(h) && h.item[0] === 'p').map((h) => h.item[1]))];
    const found = new Map<string, string | undefined>();
    try {
      await Promise.all(players.map(async (p) => found.set(p, (await this.presence.lookup(p))?.node)));
    } catch {
      return; // Redis is down again: these wait for it like any held push (and for the hold's end).
    }
    const gone: Held[] = [];
    for (const h of this.held.snapshot()) {
      if (!forIt(h)) continue;
      if (h.item[0] === 'r') gone.push(h);
      else if (!found.has(h.item[1])) continue; // held after the lookup: the next drain asks presence itself
      else {
        const now = found.get(h.item[1]);
        if (now === lost || (now === undefined && (h.node ?? h.triedAt) === lost)) gone.push(h);
        else if (now !== undefined) h.node = now;
      }
    }
    this.node.lostPushes.lost(this.held.settle(gone), `for node ${lost}, reported lost`, true);
    if (this.node.connected) void this.drain();
  }

  toPlayer(player: string, event: string, payload: unknown, hops = 0): void {
    const item: Item = ['p', player, event, payload, hops];
    const seq = this.sent++;
    const cached = this.whereIs.get(player);
    if (!this.node.connected || this.held.holds(item)) return this.hold(item, cached && !(cached instanceof Promise) ? cached.node : undefined, seq);
    if (cached && !(cached instanceof Promise) && Date.now() - cached.at < PRESENCE_CACHE_MS) return this.queue(cached.node, item, seq);
    // One lookup per player at a time; the pushes that wait for it keep their order.
    let lookup = cached instanceof Promise ? cached : undefined;
    if (!lookup) {
      lookup = this.presence.lookup(player).then(
        (record) => {
          if (record) this.whereIs.set(player, { node: record.node, at: Date.now() });
          else this.whereIs.delete(player);
          return record?.node;
        },
        (err: Error) => {
          this.whereIs.delete(player);
          throw err;
        },
      );
      this.whereIs.set(player, lookup);
    }
    lookup.then(
      (node) => {
        if (node === undefined) log.debug(`ctx.send to ${player}: no node holds that player`);
        else if (node === this.node.id) this.gateway.send(player, event, payload);
        else this.queue(node, item, seq);
      },
      // Redis went down while asking: held, to be looked up again when it is back.
      () => this.hold(item, undefined, seq),
    );
  }

  /** `node`: the room's holder, undefined while not known (held until it is). */
  toRoom(node: string | undefined, room: string, event: string, payload: unknown): void {
    const item: Item = ['r', room, event, payload, 0];
    const seq = this.sent++;
    if (node === undefined || !this.node.connected || this.held.holds(item)) return this.hold(item, node, seq);
    this.queue(node, item, seq);
  }

  private queue(node: string, item: Item, seq: number): void {
    let items = this.outgoing.get(node);
    if (!items) this.outgoing.set(node, (items = []));
    items.push({ item, seq });
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    for (const [node, items] of this.outgoing) {
      this.publish(node, items).then(
        (listening) => {
          if (listening === 0) this.node.lostPushes.lost(items.length, `node ${node} is not in the fleet`, false);
        },
        // Redis went down with these on their way: held, each in its place among those held meanwhile.
        () => {
          for (const { item, seq } of items) this.hold(item, node, seq);
        },
      );
    }
    this.outgoing.clear();
  }

  private hold(item: Item, node: string | undefined, seq: number): void {
    const now = Date.now();
    // While a drain is under way it expires what is old between its rounds, never a push on its way.
    this.node.lostPushes.lost(this.held.hold(item, node, now, seq), "over the hold's bounds", true);
    if (!this.draining) this.expire(now);
    if (this.node.connected) void this.drain();
  }

  private expire(now: number): void {
    this.node.lostPushes.lost(this.held.expire(now), `held longer than ${this.held.limits.ageMs / 1000} s`, true);
  }

  /** Delivers what is held, oldest first, until nothing is (or Redis is down again). */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.held.size > 0 && this.node.connected) {
        this.expire(Date.now());
        const delivered = await this.deliverHeld(this.held.snapshot());
        this.node.lostPushes.deliveredLate(this.held.settle(delivered));
        if (this.held.size > 0) await new Promise((r) => setTimeout(r, RETRY_HELD_MS));
      }
    } finally {
      this.draining = false;
    }
    if (this.held.size === 0) this.node.lostPushes.outageOver();
  }

  /**
   * One try at every held push, in order per target; resolves to those
   * delivered. A push for a target that has one still undelivered before it
   * waits for the next try, so that order holds.
   */
  private async deliverHeld(batch: Held[]): Promise<Held[]> {
    const players = [...new Set(batch.filter((h) => h.node === undefined && h.item[0] === 'p').map((h) => h.item[1]))];
    const found = new Map<string, string | undefined>();
    await Promise.all(players.map(async (p) => found.set(p, (await this.presence.lookup(p).catch(() => undefined))?.node)));
    const delivered: Held[] = [];
    const waiting = new Set<string>();
    const byNode = new Map<string, Held[]>();
    for (const h of batch) {
      const key = `${h.item[0]}:${h.item[1]}`;
      const node = h.node ?? (h.item[0] === 'p' ? found.get(h.item[1]) : this.roomNode(h.item[1]));
      if (node === undefined || waiting.has(key)) {
        waiting.add(key);
        continue;
      }
      if (node === this.node.id) {
        this.receive(h.item);
        delivered.push(h);
        continue;
      }
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(h);
    }
    await Promise.all(
      [...byNode].map(([node, list]) =>
        this.publish(node, list).then(
          (listening) => {
            if (listening > 0) return void delivered.push(...list);
            // Nobody listening there (yet): a player's push asks presence again next time (the player may have moved).
            for (const h of list) {
              h.triedAt = node;
              if (h.item[0] === 'p') h.node = undefined;
            }
          },
          () => undefined,
        ),
      ),
    );
    return delivered;
  }

  private publish(node: string, pushes: ReadonlyArray<{ item: Item; seq: number }>): Promise<number> {
    const batch: Batch = { from: this.mark, pushes: pushes.map((p) => [p.seq, p.item]) };
    return this.node.publish(node, 'fleet.deliver', batch);
  }

  private receive([kind, target, event, payload, hops]: Item): void {
    if (kind === 'r') return this.gateway.broadcast(target, event, payload);
    if (this.gateway.sessions.get(target)?.link) return this.gateway.send(target, event, payload);
    // The sender's idea of where the player is was out of date (or the player is leaving this node for another): ask Redis, pass it on once.
    this.whereIs.delete(target);
    if (hops < 1) this.toPlayer(target, event, payload, hops + 1);
    else log.debug(`a push for ${target} found no node that holds that player`);
  }
}
