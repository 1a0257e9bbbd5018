import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../log.ts';
import type { FleetNode } from './node.ts';

// Which node holds each room: the hash rebind:rooms (room -> node id) in
// Redis, claimed with HSETNX so that two nodes can never both hold a room,
// mirrored in every node's memory so that ctx.join can decide at once, inside
// its transaction, whether the room is here. The mirror is kept current by
// the claim and free messages every node publishes, and reloaded from Redis
// every 2 s in case one was missed (Redis down, a restart). A room an
// emptied Redis no longer lists stays with its last holder until that node
// frees it or is lost: the holder claims it back at its next reload, and a
// broadcast sent before then must still go there (it used to reach nobody).
//
// A node also keeps the rooms it holds in its data folder (fleet-rooms.json):
// restarted from that folder it claims them back.

const log = createLogger('fleet');
const RELOAD_MS = 2000;

export class RoomDirectory {
  /** room -> node id, as last seen. */
  private readonly holders = new Map<string, string>();
  /**
   * The rooms this node serves: the truth a reload of the mirror is checked
   * against. One missing from Redis (emptied by a restart, or a claim that
   * has not landed yet) is claimed again; one another node holds now is
   * reported through `onTaken` and let go.
   */
  private readonly mine = new Set<string>();
  /** Set by the router: another node holds a room this node served (its members are sent there). */
  onTaken: (room: string, holder: string) => void = () => undefined;
  private readonly reload: NodeJS.Timeout;
  private readonly file: string | undefined;
  /** When this process first reached Redis (0: not yet). */
  private firstUp = 0;
  /**
   * Whether a room missing from the map is nobody's. Not before a reload that
   * began a full reload period after this process first reached Redis: a
   * fresh process has no earlier map to keep (see refresh), and an emptied
   * Redis lists a room again only once its node has reloaded and claimed it.
   */
  trusted = false;

  constructor(private readonly node: FleetNode) {
    this.file = node.options.dataDir ? path.join(node.options.dataDir, 'fleet-rooms.json') : undefined;
    node.on('room.placed', (p) => {
      const { room, holder } = p as { room: string; holder: string };
      this.holders.set(room, holder);
      // Another node may place a room here (it claims it for this node as it sends the player over).
      if (holder === node.id) this.own(room);
    });
    // A node that is gone holds nothing: its rooms leave the mirror here even when Redis has nothing left to free (emptied).
    node.events.on('node-lost', (id) => {
      for (const [room, holder] of this.holders) if (holder === id) this.holders.delete(room);
    });
    node.on('room.freed', (p) => {
      const { rooms, holder } = p as { rooms: string[]; holder: string };
      for (const room of rooms) if (this.holders.get(room) === holder) this.holders.delete(room);
    });
    node.events.on('redis-up', () => {
      if (this.firstUp === 0) this.firstUp = Date.now();
    });
    this.reload = setInterval(() => void this.refresh().catch(() => undefined), RELOAD_MS);
    this.reload.unref();
  }

  private get key(): string {
    return this.node.key('rooms');
  }

  /** The node holding a room, as this node last heard; undefined when none does. */
  holder(room: string): string | undefined {
    return this.holders.get(room);
  }

  /** Rooms this node holds. */
  held(): string[] {
    return [...this.mine];
  }

  /** Reads the whole directory from Redis, and claims again what this node serves that Redis has forgotten. */
  async refresh(): Promise<void> {
    // A process still waiting for its node id (or a copy refused it) must not take that node's rooms as its own.
    if (!this.node.holdsId) return;
    const began = Date.now();
    const all = await this.node.redis.run((r) => r.hgetall(this.key));
    if (this.firstUp !== 0 && began - this.firstUp >= RELOAD_MS) this.trusted = true;
    const before = new Map(this.holders);
    this.holders.clear();
    // A room Redis forgot (emptied by a restart) is still where it was while its holder lives: that node claims it back
    // at its next reload, and until then pushes and joins for it must still go there, not to nobody.
    for (const [room, holder] of before) if (holder !== this.node.id && !Object.hasOwn(all, room)) this.holders.set(room, holder);
    for (const [room, holder] of Object.entries(all)) {
      this.holders.set(room, holder);
      if (holder === this.node.id) this.own(room);
    }
    for (const room of [...this.mine]) {
      const holder = all[room];
      if (holder === this.node.id) continue;
      if (holder === undefined) {
        this.holders.set(room, this.node.id);
        await this.claim(room, this.node.id);
      } else this.taken(room, holder);
    }
  }

  private own(room: string): void {
    if (this.mine.has(room)) return;
    this.mine.add(room);
    this.save();
  }

  private taken(room: string, holder: string): void {
    this.mine.delete(room);
    this.save();
    this.onTaken(room, holder);
  }

  /**
   * Takes a room for this node at once (ctx.join cannot wait for Redis) and
   * claims it in Redis; resolves to the node that holds it now. Another node
   * may have claimed it a moment before: then that node holds it, and the
   * caller moves this node's members there.
   */
  async takeHere(room: string): Promise<string> {
    this.holders.set(room, this.node.id);
    this.own(room);
    return this.claim(room, this.node.id);
  }

  /**
   * Claims a room for `holder` unless some node holds it already; resolves to
   * the node that holds it now (the claimant, or the earlier holder).
   */
  async claim(room: string, holder: string): Promise<string> {
    const won = await this.node.redis.run((r) => r.hsetnx(this.key, room, holder));
    const now = won === 1 ? holder : ((await this.node.redis.run((r) => r.hget(this.key, room))) ?? holder);
    this.holders.set(room, now);
    if (holder === this.node.id && now === holder) this.own(room);
    if (holder === this.node.id && now !== holder && this.mine.has(room)) this.taken(room, now);
    if (won === 1) await this.node.publish('all', 'room.placed', { room, holder });
    return now;
  }

  /** Frees every room of a node (one that was lost, or this one leaving); returns their names. */
  async freeAllOf(holder: string): Promise<string[]> {
    const all = await this.node.redis.run((r) => r.hgetall(this.key));
    const rooms = Object.entries(all)
      .filter(([, h]) => h === holder)
      .map(([room]) => room);
    if (rooms.length === 0) return [];
    await this.node.redis.run((r) => r.hdel(this.key, ...rooms));
    for (const room of rooms) {
      this.holders.delete(room);
      this.mine.delete(room);
    }
    await this.node.publish('all', 'room.freed', { rooms, holder });
    return rooms;
  }

  /** At a start: claims back the rooms this data folder held. Resolves to those taken back and those another node holds now. */
  async takeBack(): Promise<{ back: string[]; elsewhere: Record<string, string> }> {
    const back: string[] = [];
    const elsewhere: Record<string, string> = {};
    for (const room of this.saved()) {
      const holder = await this.claim(room, this.node.id);
      if (holder === this.node.id) back.push(room);
      else elsewhere[room] = holder;
    }
    this.save();
    return { back, elsewhere };
  }

  close(): void {
    clearInterval(this.reload);
  }

  private saved(): string[] {
    if (!this.file) return [];
    try {
      const rooms = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return Array.isArray(rooms) ? rooms.filter((r): r is string => typeof r === 'string') : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`${this.file} could not be read (${(err as Error).message}); no rooms are claimed back`);
      return [];
    }
  }

  /** Written whole to a temp file and renamed: a crash leaves the old list or the new one. */
  private save(): void {
    if (!this.file) return;
    try {
      writeFileSync(this.file + '.tmp', JSON.stringify(this.held()));
      renameSync(this.file + '.tmp', this.file);
    } catch (err) {
      log.warn(`could not save the rooms this node holds to ${this.file}: ${(err as Error).message}`);
    }
  }
}
