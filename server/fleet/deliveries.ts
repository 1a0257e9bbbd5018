import { createLogger } from '../log.ts';
import type { Gateway } from '../net/gateway.ts';
import type { FleetNode } from './node.ts';
import type { Presence } from './presence.ts';

// ctx.send and ctx.broadcast to players and rooms of other nodes, after the
// commit. What one node sends another within one turn of the event loop goes
// as one message (a PUBLISH per node and turn, not per push), and where a
// player is comes from a short-lived cache of presence. A cache that is out of
// date costs one hop, never a message: a node that receives a push for a
// player it does not hold looks the player up afresh and passes it on, once.

const log = createLogger('fleet');
/** How long a player's node is trusted without asking Redis again. */
const PRESENCE_CACHE_MS = 2000;

/** A push for a player ('p') or for every member of a room ('r'); `hops`: times it was passed on already. */
type Item = [kind: 'p' | 'r', target: string, event: string, payload: unknown, hops: number];

export class Deliveries {
  private readonly outgoing = new Map<string, Item[]>();
  private flushing = false;
  private readonly whereIs = new Map<string, { node: string; at: number } | Promise<string | undefined>>();

  constructor(
    private readonly node: FleetNode,
    private readonly gateway: Gateway,
    private readonly presence: Presence,
  ) {
    node.on('fleet.deliver', (items) => {
      for (const item of items as Item[]) this.receive(item);
    });
  }

  toPlayer(player: string, event: string, payload: unknown, hops = 0): void {
    const cached = this.whereIs.get(player);
    if (cached && !(cached instanceof Promise) && Date.now() - cached.at < PRESENCE_CACHE_MS) return this.queue(cached.node, ['p', player, event, payload, hops]);
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
        else this.queue(node, ['p', player, event, payload, hops]);
      },
      (err: Error) => this.lost(1, `ctx.send("${player}", "${event}") could not look the player up: ${err.message}`),
    );
  }

  toRoom(node: string, room: string, event: string, payload: unknown): void {
    this.queue(node, ['r', room, event, payload, 0]);
  }

  private queue(node: string, item: Item): void {
    let items = this.outgoing.get(node);
    if (!items) this.outgoing.set(node, (items = []));
    items.push(item);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    for (const [node, items] of this.outgoing) {
      this.node.publish(node, 'fleet.deliver', items).then(
        (listening) => {
          if (listening === 0) this.lost(items.length, `node ${node} is not in the fleet`);
        },
        (err: Error) => this.lost(items.length, `for node ${node}: ${err.message}`),
      );
    }
    this.outgoing.clear();
  }

  private lost(count: number, why: string): void {
    this.node.lostPushes.lost(count, why, this.node.connected);
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
