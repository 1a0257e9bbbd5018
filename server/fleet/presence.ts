import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hashToken } from '../net/sessions.ts';
import type { FleetNode } from './node.ts';

// Which node holds each player, in Redis (rebind:player:<id> -> {node,
// tokenHash}), and the proof that a client is that player on any node: the
// hash of the resume token its node last gave it. A node that does not know a
// token checks it here, so a player keeps its id when it is sent to another
// node (a handoff: the sending node writes a one-time ticket for the target)
// and when its node dies (the node it reconnects to adopts it).

export interface PlayerRecord {
  node: string;
  tokenHash: string;
  /** Set by a handoff: the node the player is leaving, which lets its session go once the target adopts it. */
  from?: string;
  /** Set by a handoff that moves a room's member (its node lost the room's claim): the target makes it a member there. */
  rejoin?: string;
}

const SET_IF_NONE = `if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 'node', ARGV[1], 'tokenHash', ARGV[2]) return 1 end return 0`;

/** Deletes the record only if it still names this node: a player that moved on must stay where it went. */
const DELETE_IF_HERE = `if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class Presence {
  constructor(private readonly node: FleetNode) {}

  private key(player: string): string {
    return this.node.key('player', player);
  }

  /** The player is here now, and this token hash proves it. */
  async here(player: string, tokenHash: string): Promise<void> {
    await this.node.redis.run((r) => r.multi().hset(this.key(player), 'node', this.node.id, 'tokenHash', tokenHash).hdel(this.key(player), 'from', 'rejoin').exec());
  }

  /**
   * The player has a session here but no connection (restored after a
   * restart, or cut and in its grace): recorded only if no node claims it,
   * since another node may have adopted it meanwhile.
   */
  async hereUnlessElsewhere(player: string, tokenHash: string): Promise<void> {
    await this.node.redis.run((r) => r.eval(SET_IF_NONE, 1, this.key(player), this.node.id, tokenHash));
  }

  /** The player left the world (on this node). */
  async gone(player: string): Promise<void> {
    await this.node.redis.run((r) => r.eval(DELETE_IF_HERE, 1, this.key(player), this.node.id));
  }

  async lookup(player: string): Promise<PlayerRecord | undefined> {
    const record = await this.node.redis.run((r) => r.hgetall(this.key(player)));
    if (typeof record.node !== 'string' || typeof record.tokenHash !== 'string') return undefined;
    return { node: record.node, tokenHash: record.tokenHash, ...(record.from ? { from: record.from } : {}), ...(record.rejoin ? { rejoin: record.rejoin } : {}) };
  }

  /**
   * Sends a player to another node: a fresh one-time ticket whose hash the
   * target will find here. Resolves to the ticket (the client presents it as
   * its resume token there).
   */
  async handoff(player: string, to: string, rejoin?: string): Promise<string> {
    const ticket = randomBytes(24).toString('base64url');
    await this.node.redis.run((r) => {
      const write = r.multi().hset(this.key(player), 'node', to, 'tokenHash', hashToken(ticket), 'from', this.node.id);
      return (rejoin ? write.hset(this.key(player), 'rejoin', rejoin) : write.hdel(this.key(player), 'rejoin')).exec();
    });
    return ticket;
  }
}

/** Whether a token is the one whose hash a record holds (in constant time). */
export function tokenMatches(record: PlayerRecord, token: string): boolean {
  const a = Buffer.from(hashToken(token));
  const b = Buffer.from(record.tokenHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
