import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pack, unpack } from 'msgpackr';
import { createLogger } from '../log.ts';
import { FleetBus, type Handler } from './bus.ts';
import { LostPushes } from './lost-pushes.ts';
import { connectFleet, safeUrl, type FleetConnections } from './redis.ts';

// One node of a fleet: a rebind process that registers itself in Redis with a
// heartbeat, sees the other nodes, notices the ones that die, and talks to
// them (bus.ts). Its id is kept in the data folder, so that a node restarted
// from the same folder is the same node and can take its rooms back.

const log = createLogger('fleet');

/** A node's record expires this long after its last heartbeat: a node killed with -9 is gone from Redis by then. */
export const NODE_TTL_MS = 3000;
export const HEARTBEAT_MS = 1000;

export interface NodeLoad {
  players: number;
  /** Rooms the fleet's room map (rebind:rooms) gives this node, members here or not. */
  rooms: number;
}

export interface NodeRecord {
  id: string;
  gameUrl: string;
  adminUrl: string | null;
  load: NodeLoad;
  /** module -> its live version and content hash. */
  code: Record<string, { version: number; hash: string }>;
  startedAt: number;
  /** When this record was written (the node's clock). */
  at: number;
}

export interface FleetNodeOptions {
  url: string;
  /** The data folder: data/node-id keeps the node's id; without one the id is random. */
  dataDir?: string;
  gameUrl: string;
  adminUrl?: string;
  /** Read at every heartbeat. */
  load(): NodeLoad;
  code(): NodeRecord['code'];
}

const ID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;

/** The id in data/node-id, created on the first start of that folder. */
export function nodeIdFor(dataDir: string | undefined): string {
  const fresh = `node-${randomBytes(4).toString('hex')}`;
  if (!dataDir) return fresh;
  const file = path.join(dataDir, 'node-id');
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (ID_SHAPE.test(kept)) return kept;
    log.warn(`${file} does not hold a node id (letters, digits, - and _), a new one replaces it`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, fresh + '\n');
  return fresh;
}

export interface FleetNodeEvents {
  /** A node that was live is gone. `claimed`: this node won the race to clean up after it (exactly one node does). */
  'node-lost': [id: string, claimed: boolean];
  'node-joined': [record: NodeRecord];
  /** This node (re)registered after Redis came (back) up. */
  registered: [];
  /** The connection to Redis is ready (again): what waited for it may go. */
  'redis-up': [];
  /** This process cannot be a node of the fleet: another live process holds its id (a copy of its data folder), or Redis refused the URL's credentials. */
  refused: [why: string];
}

/**
 * The heartbeat, atomic: writes the record only while the id's owner key is
 * this process's own (or free). Returns 0 or 1 (whether the record existed),
 * or the owner key's value when another process holds the id.
 */
const BEAT = `local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return held end
local existed = redis.call('EXISTS', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
return existed`;

/** Deletes the owner key and the record only while the id is this process's. */
const DEREGISTER = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1`;

export class FleetNode {
  /** node-lost, node-joined, registered (FleetNodeEvents); `on(kind)` is for messages from other nodes. */
  readonly events = new EventEmitter<FleetNodeEvents>();
  readonly id: string;
  readonly redis: FleetConnections;
  readonly bus: FleetBus;
  readonly startedAt = Date.now();
  readonly lostPushes = new LostPushes();
  private readonly prefix = 'rebind';
  private heartbeat: NodeJS.Timeout | undefined;
  /** Nodes seen live, and since when a known node's record has been missing. */
  private readonly known = new Map<string, NodeRecord>();
  /** The live records as of the last heartbeat (this node included): placement and liveness read these without waiting for Redis. */
  private lastLive = new Map<string, NodeRecord>();
  private readonly missingSince = new Map<string, number>();
  /** When the command connection last became ready: losses are judged only after a full TTL of being connected. */
  private readySince = 0;
  private beating = false;
  private left = false;
  /** This process's claim on its node id: the owner key holds it while the process beats ("<random> <game url>"). */
  private readonly ownerToken: string;
  /** Since when the owner key has named another process; a killed node's key expires within a TTL, a live copy's never does. */
  private refusedSince = 0;
  /** Why this process cannot be a node (a duplicate id, credentials refused): it never registers, and the server stops. */
  refusal: string | undefined;
  /** Whether this process holds its id in Redis (set by the heartbeat): only then may it act for the node. */
  holdsId = false;

  constructor(readonly options: FleetNodeOptions) {
    this.id = nodeIdFor(options.dataDir);
    this.ownerToken = `${randomBytes(12).toString('hex')} ${options.gameUrl}`;
    this.redis = connectFleet(
      options.url,
      () => {
        this.readySince = Date.now();
        this.missingSince.clear();
        this.events.emit('redis-up');
        void this.beat();
      },
      (why) => this.refuse(why),
    );
    this.bus = new FleetBus(this.redis, this.id, (to) => this.key('to', to));
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    log.info(`fleet: node ${this.id} joining the fleet at ${safeUrl(options.url)} (game ${options.gameUrl})`);
  }

  /** `rebind:<part>:<part>`: every key and channel of the fleet. */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  get connected(): boolean {
    return this.redis.ready;
  }

  publish(to: string | 'all', kind: string, payload: unknown): Promise<number> {
    return this.bus.publish(to, kind, payload);
  }

  /** Handles one kind of message from the fleet; the handler's result answers a request. */
  on(kind: string, handler: Handler): void {
    this.bus.on(kind, handler);
  }

  request(to: string, kind: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    return this.bus.request(to, kind, payload, timeoutMs);
  }

  /** The nodes whose record has not expired, this one included. FLEET_UNAVAILABLE while Redis is down. */
  async liveNodes(): Promise<NodeRecord[]> {
    return (await this.readNodes()).live;
  }

  /** The ids listed in rebind:nodes, and the records of those whose record has not expired. */
  private async readNodes(): Promise<{ listed: string[]; live: NodeRecord[] }> {
    const listed = await this.redis.run((r) => r.smembers(this.key('nodes')));
    if (listed.length === 0) return { listed, live: [] };
    const values = await this.redis.run((r) => r.mgetBuffer(...listed.map((id) => this.key('node', id))));
    const live: NodeRecord[] = [];
    for (const value of values) if (value) live.push(unpack(value) as NodeRecord);
    return { listed, live };
  }

  /** A node's record as of the last heartbeat, if it was live then. */
  peer(id: string): NodeRecord | undefined {
    return id === this.id ? this.record() : this.lastLive.get(id);
  }

  /** The nodes live at the last heartbeat, this one included (with its current load). */
  peers(): NodeRecord[] {
    return [this.record(), ...[...this.lastLive.values()].filter((n) => n.id !== this.id)];
  }

  record(): NodeRecord {
    return { id: this.id, gameUrl: this.options.gameUrl, adminUrl: this.options.adminUrl ?? null, load: this.options.load(), code: this.options.code(), startedAt: this.startedAt, at: Date.now() };
  }

  /** Deregisters, stops the heartbeat, closes both connections. */
  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    clearInterval(this.heartbeat);
    this.bus.close();
    if (this.redis.ready && this.holdsId) {
      await this.redis
        .run((r) => r.eval(DEREGISTER, 3, this.key('owner', this.id), this.key('node', this.id), this.key('nodes'), this.ownerToken, this.id))
        .catch((err: Error) => log.warn(`fleet: node ${this.id} could not deregister (${err.message}); its record expires in ${NODE_TTL_MS / 1000} s`));
    }
    await this.redis.close();
    log.info(`fleet: node ${this.id} left the fleet`);
  }

  /** Writes this node's record, then looks at everyone else's. Never throws: Redis down is a warning already. */
  private async beat(): Promise<void> {
    if (this.beating || this.left || !this.redis.ready) return;
    this.beating = true;
    try {
      const result = await this.redis.run((r) => r.eval(BEAT, 3, this.key('owner', this.id), this.key('node', this.id), this.key('nodes'), this.ownerToken, NODE_TTL_MS, pack(this.record()), this.id));
      if (typeof result === 'string') return this.refused(result);
      this.refusedSince = 0;
      this.holdsId = true;
      if (result === 0) {
        log.info(`fleet: node ${this.id} registered`);
        this.events.emit('registered');
      }
      await this.watch();
    } catch {
      // FLEET_UNAVAILABLE: the connection's own listener has said so once.
    } finally {
      this.beating = false;
    }
  }

  /**
   * Another process holds this node's id. Right after a kill -9 that is the
   * killed process, whose key expires within a TTL: wait. Held longer, it is
   * a live copy of this data folder: this process must not serve as that
   * node (both would take the same rooms back and flip its address).
   */
  private refused(held: string): void {
    this.holdsId = false;
    const now = Date.now();
    const other = held.split(' ')[1] ?? 'an unknown address';
    if (this.refusedSince === 0) {
      this.refusedSince = now;
      log.warn(`fleet: node id ${this.id} is held by another process (game ${other}); waiting up to ${(2 * NODE_TTL_MS) / 1000} s in case that node was killed a moment ago`);
      return;
    }
    if (now - this.refusedSince < 2 * NODE_TTL_MS || this.refusal) return;
    this.refuse(`DUPLICATE NODE ID: node id ${this.id} (from ${this.options.dataDir ? path.join(this.options.dataDir, 'node-id') : 'no data folder'}) belongs to a live node at ${other}: this data folder is a copy of that node's. Start this node from its own data folder, or delete node-id in this copy to make it a new node`);
  }

  private refuse(why: string): void {
    this.refusal = why;
    log.error(`fleet: ${why}`);
    this.events.emit('refused', why);
  }

  /** Compares the live records with the nodes seen before: new ones joined, missing ones are lost after a full TTL. */
  private async watch(): Promise<void> {
    const { listed, live } = await this.readNodes();
    const now = Date.now();
    const liveIds = new Set(live.map((n) => n.id));
    this.lastLive = new Map(live.map((n) => [n.id, n]));
    for (const record of live) {
      this.missingSince.delete(record.id);
      if (!this.known.has(record.id) && record.id !== this.id) {
        log.info(`fleet: node ${record.id} is live (game ${record.gameUrl}, ${record.load.players} players, ${record.load.rooms} rooms)`);
        this.events.emit('node-joined', record);
      }
      this.known.set(record.id, record);
    }
    for (const id of new Set([...this.known.keys(), ...listed])) {
      if (liveIds.has(id) || id === this.id) continue;
      const since = this.missingSince.get(id) ?? now;
      this.missingSince.set(id, since);
      // Right after Redis came back, nobody has re-registered yet: judge only after every live node had a full TTL to do so.
      if (now - this.readySince < NODE_TTL_MS || now - since < HEARTBEAT_MS) continue;
      this.known.delete(id);
      this.missingSince.delete(id);
      const claimed = (await this.redis.run((r) => r.srem(this.key('nodes'), id))) === 1;
      log.warn(`fleet: NODE LOST ${id} (no heartbeat for ${NODE_TTL_MS / 1000} s or more)${claimed ? '; this node cleans up after it' : ''}`);
      this.events.emit('node-lost', id, claimed);
    }
  }
}
