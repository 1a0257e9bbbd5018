import type { Redirect } from '../../client/requests.ts';
import type { RebindError } from '../errors.ts';

// What the client gateway asks of a fleet (server/fleet/), when there is one.
// The net layer stays ignorant of Redis: it calls these, and without a fleet
// it behaves as one process always has.

/** Where a client must go, in an error reply's `redirect` (docs/protocol.md): the wire's own shape, from the client library. */
export type { Redirect };

export interface NetFleet {
  /**
   * A ROOM_ELSEWHERE or PLAYER_ELSEWHERE error: where the player goes, or a
   * plainer error to reply with instead; 'here' when the room has just been
   * placed on this node (the gateway runs the call again, once).
   */
  redirect(err: RebindError): Promise<Redirect | 'here'>;
  /** Before `$auth` makes a player here that this node does not have: throws PLAYER_ELSEWHERE when a live node holds that player (one player, one node). */
  mayJoinHere(player: string): Promise<void>;
  /** A player joined or resumed here, with the hash of the token it now holds. */
  admitted(player: string, tokenHash: string): void;
  /** A player left the world here. */
  ended(player: string): void;
  /** A `$resume` whose token this node does not know: a player of another node (moved, or whose node died). Resolves to the player id to adopt here, or throws (RESUME_FAILED, or PLAYER_ELSEWHERE to redirect). */
  adoptable(payload: unknown): Promise<{ player: string; from: string | null }>;
  /** The player was adopted here from node `from`: that node lets its session go. */
  adopted(player: string, from: string | null): void;
}
