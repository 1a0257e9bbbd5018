import { types } from 'node:util';
import type { RoomView } from '../api.ts';
import { isRebindError, rebindError, type RebindError } from '../errors.ts';
import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import type { Gateway } from '../net/gateway.ts';
import type { NetFleet, Redirect } from '../net/fleet-hooks.ts';
import type { Outbox } from '../patch/dispatch.ts';
import { Deliveries } from './deliveries.ts';
import type { RoomDirectory } from './directory.ts';
import type { FleetNode, NodeRecord } from './node.ts';
import { Placement } from './placement.ts';
import { tokenMatches, type Presence } from './presence.ts';

// Logic's view of the fleet: ctx.join places a room (here, or the player is
// sent where it is), ctx.send and ctx.broadcast reach players and rooms of
// any node (after the commit, as always: the dispatcher queues them; the
// crossing itself is deliveries.ts), and
// ctx.callRoom runs a handler on the room's node. And the gateway's: the
// redirect a client follows, presence, adoption of a player from another node.

const log = createLogger('fleet');
const CALL_ROOM_TIMEOUT_MS = 5000;

interface Elsewhere {
  room?: string;
  node: string;
  player: string;
  /** The token the client already holds for that node (a `$resume` that came to the wrong node): no new ticket needed. */
  ticket?: string;
  /** A member of the room sent over by this node (it lost the room's claim): the target makes it a member on arrival. */
  rejoin?: boolean;
  /** The node was chosen by logic's place hook: found gone, placement falls back to load instead of failing the join. */
  placed?: boolean;
}

export class FleetRouter implements Outbox, NetFleet {
  private readonly deliveries: Deliveries;
  /** Players adopted by a handoff that moves a room's member: the room they join on arrival. */
  private readonly rejoins = new Map<string, string>();
  private readonly placement: Placement;

  constructor(
    private readonly node: FleetNode,
    private readonly gateway: Gateway,
    private readonly host: Host,
    private readonly directory: RoomDirectory,
    private readonly presence: Presence,
  ) {
    // A held broadcast goes to the room's node once the map can tell; a room nobody holds is this node's (its members here, if any).
    this.deliveries = new Deliveries(node, gateway, presence, (room) => directory.holder(room) ?? (directory.trusted ? node.id : undefined));
    this.placement = new Placement(host);
    node.on('room.call', (p) => {
      const { room, name, payload, player } = p as { room: string; name: string; payload: unknown; player: string | null };
      if (this.directory.holder(room) !== node.id) throw rebindError('ROOM_LOST', `node ${node.id} does not hold room "${room}" (any more)`, { details: { room, node: node.id } });
      return host.dispatcher.invoke(name, payload, player, 'internal');
    });
    node.on('player.moved', (p) => gateway.release((p as { player: string }).player));
    directory.onTaken = (room, holder) => this.lostClaim(room, holder);
  }

  // ---- Outbox (what ctx does) ----

  send(player: string, event: string, payload: unknown): void {
    // Connected here: at once. Not connected here: it may be on its way to another node, so presence decides.
    if (this.gateway.sessions.get(player)?.link) return this.gateway.send(player, event, payload);
    this.deliveries.toPlayer(player, event, payload);
  }

  broadcast(room: string, event: string, payload: unknown): void {
    const holder = this.directory.holder(room);
    if (holder === this.node.id || (holder === undefined && this.directory.trusted)) return this.gateway.broadcast(room, event, payload);
    // Not known yet whether another node holds it (a fresh node, Redis down or just refilled): held until the map can tell.
    this.deliveries.toRoom(holder, room, event, payload);
  }

  join(room: string, player: string): void {
    this.gateway.join(room, player);
  }

  leave(room: string, player: string): void {
    this.gateway.leave(room, player);
  }

  setRoomView(room: string, view: RoomView): void {
    this.gateway.setRoomView(room, view);
  }

  checkRoomView(view: RoomView): void {
    this.gateway.checkRoomView(view);
  }

  /**
   * Decided from memory, inside the joining handler's transaction: the room
   * is here, or the handler fails with ROOM_ELSEWHERE. A room no node holds
   * yet is claimed in Redis first, outside the transaction (redirect() below):
   * only once Redis has said which node holds it does a join commit there, so
   * that a join that starts after another node's answered always finds that
   * node (two nodes answering ok for one room sent a member away from it).
   */
  placeRoom(room: string, player: string): void {
    const holder = this.directory.holder(room);
    if (holder === this.node.id) return;
    // Whether that node is alive is checked against Redis as the redirect is built (this node's view may be a heartbeat old).
    if (holder !== undefined) throw elsewhere('ROOM_ELSEWHERE', `room "${room}" is on node ${holder}`, { room, node: holder, player });
    if (this.node.connected) {
      // Logic may choose (session.place); no answer, or a bad one, and load decides.
      const chosen = this.placement.choose(room, player, this.node.peers(), this.node.id);
      const target = chosen ?? this.leastLoaded();
      const why = chosen ? `chosen by ${this.placement.hook}` : 'fewest players';
      throw elsewhere('ROOM_ELSEWHERE', target === this.node.id ? `room "${room}" is being placed on this node (${why})` : `room "${room}" is placed on node ${target} (${why})`, { room, node: target, player, ...(chosen ? { placed: true } : {}) });
    }
    // Without Redis nothing can be claimed before the commit: the room is served here and claimed when Redis is back.
    // Another node that claimed it meanwhile wins: the directory reports it (onTaken) and this node's members are sent there.
    void this.directory.takeHere(room).catch(
      (err: Error) => log.warn(`room "${room}" is served here but could not be claimed in Redis (${err.message}); the next join claims it again`),
    );
  }

  callRoom(room: string, name: string, payload: unknown, player: string | null): Promise<unknown> {
    const holder = this.directory.holder(room);
    if (holder === undefined) return Promise.reject(rebindError('ROOM_LOST', `no node holds room "${room}"`, { details: { room } }));
    if (holder === this.node.id) return Promise.resolve().then(() => this.host.dispatcher.invoke(name, payload, player, 'internal'));
    return this.node.request(holder, 'room.call', { room, name, payload, player }, CALL_ROOM_TIMEOUT_MS);
  }

  // ---- NetFleet (what the gateway asks) ----

  async redirect(err: RebindError): Promise<Redirect | 'here'> {
    const to = err.details as unknown as Elsewhere;
    // Never claim a room for a node that is gone: its rooms were (or are being) freed, and nobody would free this one.
    const gone = (node = to.node) => rebindError('ROOM_LOST', `${to.room ? `room "${to.room}" was on node ${node}, which` : `node ${node}`} stopped answering; the fleet frees its rooms within seconds: try again then`, { details: { node, ...(to.room ? { room: to.room } : {}) } });
    let node = to.node;
    if (to.placed && to.room && !(await this.live(node))) {
      // Logic chose a node that died since the last heartbeat: said, and load decides (this node if that one is gone too).
      this.placement.gone(to.room, node);
      node = this.leastLoaded();
      if (!(await this.live(node))) node = this.node.id;
    }
    if (!(await this.live(node))) throw gone();
    // A room chosen for another node is claimed for it now, or found held by whoever was first.
    if (to.room && err.code === 'ROOM_ELSEWHERE') node = await this.directory.claim(to.room, node);
    // Claimed for this node (or placed here by another a moment ago): the call runs again, with the room here.
    if (node === this.node.id && to.room && !to.ticket) return 'here';
    const peer = await this.live(node);
    if (!peer) throw gone(node);
    // A client that already holds that node's token goes back with it: a new ticket would replace the token's hash in presence.
    const ticket = to.ticket ?? (await this.presence.handoff(to.player, node, to.rejoin ? to.room : undefined));
    return { url: peer.gameUrl, node, player: to.player, ticket, ...(to.room ? { room: to.room } : {}) };
  }

  async mayJoinHere(player: string): Promise<void> {
    // Redis down: the player joins here (the fleet cannot say otherwise, and a join must not wait for Redis).
    const record = await this.presence.lookup(player).catch(() => undefined);
    if (record && record.node !== this.node.id && (await this.live(record.node))) throw elsewhere('PLAYER_ELSEWHERE', `player ${player} is on node ${record.node}`, { node: record.node, player });
  }

  admitted(player: string, tokenHash: string): void {
    this.presence.here(player, tokenHash).catch((err: Error) => log.warn(`presence of ${player} not recorded: ${err.message}`));
  }

  /** After (re)registration: connected players are here; players waiting for a resume only if no other node took them. */
  announce(player: string, tokenHash: string, connected: boolean): void {
    if (connected) return this.admitted(player, tokenHash);
    this.presence.hereUnlessElsewhere(player, tokenHash).catch((err: Error) => log.warn(`presence of ${player} not recorded: ${err.message}`));
  }

  ended(player: string): void {
    this.presence.gone(player).catch((err: Error) => log.warn(`presence of ${player} not cleared: ${err.message}`));
  }

  async adoptable(payload: unknown): Promise<{ player: string; from: string | null }> {
    const { token, player } = (payload ?? {}) as { token?: unknown; player?: unknown };
    const refused = rebindError('RESUME_FAILED', 'unknown or expired resume token: join again with $auth');
    if (typeof token !== 'string' || typeof player !== 'string' || player.length === 0) throw refused;
    const record = await this.presence.lookup(player);
    if (!record || !tokenMatches(record, token)) throw refused;
    if (record.node === this.node.id) {
      if (record.rejoin) this.rejoins.set(player, record.rejoin);
      return { player, from: record.from ?? null };
    }
    // Its node is alive: that is where this player is; send the client there with the same token.
    if (await this.live(record.node)) throw elsewhere('PLAYER_ELSEWHERE', `player ${player} is on node ${record.node}`, { node: record.node, player, ticket: token });
    log.info(`player ${player} adopted from node ${record.node}, which is not live`);
    return { player, from: record.node };
  }

  adopted(player: string, from: string | null): void {
    const room = this.rejoins.get(player);
    this.rejoins.delete(player);
    // Its join ran on a node that lost the room's claim: it arrives a member here, where the room is, and logic here hears it (session.arrived).
    if (room !== undefined && this.directory.holder(room) === this.node.id) {
      this.gateway.join(room, player);
      this.arrived(player, room, from);
    }
    if (from && from !== this.node.id && this.node.peer(from)) void this.node.publish(from, 'player.moved', { player }).catch(() => undefined);
  }

  /**
   * The call that joined the player to the room ran on the node that lost
   * it, and what it wrote stayed there: the session module's `arrived` hook
   * is logic's chance to do here what that call did (a member row, a spawn).
   */
  private arrived(player: string, room: string, from: string | null): void {
    const hook = `${this.host.dispatcher.sessionModule}.arrived`;
    const told = this.host.bindings.resolveFor(hook, player) !== undefined;
    log.info(`player ${player} arrived as a member of room "${room}" (node ${from ?? 'unknown'} lost the room's claim to this one)${told ? `; ${hook} runs` : `; no ${hook} hook: logic here is not told`}`);
    if (!told) return;
    try {
      const result = this.host.dispatcher.invoke(hook, { room, from }, player, 'system');
      if (types.isPromise(result)) result.catch((err: unknown) => log.error(`${hook} failed for ${player} in room "${room}": ${(err as Error).message}`));
    } catch (err) {
      log.error(`${hook} failed for ${player} in room "${room}": ${(err as Error).message}`);
    }
  }

  /** A node's record if it is live: this node's view of the last heartbeat, else Redis's (a node may have registered since). */
  private async live(id: string): Promise<NodeRecord | undefined> {
    return id === this.node.id ? this.node.record() : (this.node.peer(id) ?? (await this.node.liveNodes()).find((n) => n.id === id));
  }

  /**
   * The node with the fewest players at the last heartbeat, if sending the
   * player there evens the load: the player counts here now and would count
   * there after the move, so only a node with two or more players fewer gains
   * anything. Otherwise here (no redirect).
   */
  private leastLoaded(): string {
    const here = this.node.record();
    let best = here;
    for (const peer of this.node.peers()) if (peer.load.players < best.load.players) best = peer;
    return best.load.players <= here.load.players - 2 ? best.id : here.id;
  }

  /** Another node claimed the room first: this node's members of it are sent there. */
  private lostClaim(room: string, holder: string): void {
    log.warn(`room "${room}" was claimed by node ${holder} a moment before this node: its members here are sent there`);
    for (const member of [...this.gateway.rooms.members(room)]) {
      this.gateway.leave(room, member.player);
      this.sendOver(room, holder, member.player, 1);
    }
  }

  private sendOver(room: string, holder: string, player: string, retries: number): void {
    this.redirect(elsewhere('ROOM_ELSEWHERE', `room "${room}" is on node ${holder}`, { room, node: holder, player, rejoin: true })).then(
      // Freed and claimed back for this node meanwhile: the player stays, a member again.
      (redirect) => (redirect === 'here' ? this.gateway.join(room, player) : this.gateway.send(player, '$redirect', redirect)),
      (err: unknown) => {
        log.warn(`could not send ${player} to node ${holder}${retries > 0 ? ' (trying again in 2 s)' : ''}: ${isRebindError(err) ? err.message : String(err)}`);
        if (retries > 0) setTimeout(() => this.sendOver(room, holder, player, retries - 1), 2000).unref();
      },
    );
  }
}

function elsewhere(code: 'ROOM_ELSEWHERE' | 'PLAYER_ELSEWHERE', message: string, to: Elsewhere): RebindError {
  return rebindError(code, message, { details: { ...to } });
}
