import { rebindError } from '../errors.ts';
import { assertPlain, assertShallow, isWellFormed } from '../store/plain.ts';
import { thrownMessage } from '../thrown.ts';

// What logic hands the outbox (ctx.send, broadcast, join, leave, callRoom,
// setRoomView) is checked when the call is made, inside the handler: after
// the commit it is too late to refuse, and a name that reaches MessagePack
// and JSON clients differently, or a session row, breaks things far away.

/** The client library's own events: a push named so would reach the listeners of the connection's life, not the game's. */
const CLIENT_EVENTS = new Set(['open', 'close', 'error', 'state', 'resumed', 'rejoined', 'moved']);

/** The longest room name: it is a key of rooms, of each player's saved rooms, and of the fleet's directory. */
export const MAX_ROOM_NAME = 256;

/**
 * A push's payload as it will be sent (a copy of plain data, checked now: it goes out after the
 * commit, and logic may change its object before then), or a refusal naming what is wrong. An event
 * that is a number would be read by clients as the reply to their call of that number; "$" names
 * are the protocol's. A name with an unpaired surrogate would reach MessagePack clients (UTF-8)
 * as another name than JSON clients.
 */
export function pushable(how: 'send' | 'broadcast', event: unknown, payload: unknown): unknown {
  if (typeof event !== 'string' || event === '' || event.startsWith('$') || CLIENT_EVENTS.has(event) || !isWellFormed(event)) {
    throw rebindError(
      'BAD_REQUEST',
      `ctx.${how}: the event is a string, not empty, not starting with "$" (the protocol's), none of the client library's own (${[...CLIENT_EVENTS].join(', ')}) and without unpaired surrogates; got ${typeof event === 'string' ? JSON.stringify(event) : typeof event}`,
    );
  }
  if (payload === undefined || payload === null) return null;
  // The plain-data check first: it refuses a cycle, which the depth walk would follow to its limit.
  assertPlain(payload, `ctx.${how} "${event}"`);
  assertShallow(payload, `ctx.${how} "${event}"`);
  if (typeof payload !== 'object') return payload;
  try {
    return structuredClone(payload);
  } catch (err) {
    throw rebindError('NOT_PLAIN_DATA', `ctx.${how} "${event}": the payload cannot be copied (${thrownMessage(err)}): send plain data, less deeply nested`);
  }
}

/**
 * Refuses a room name that is not a string of 1 to MAX_ROOM_NAME characters without unpaired
 * surrogates. Such a name used to be taken, then failed after the commit: the player's saved rooms
 * (a session row, plain data) stopped being written, so later joins were lost at a restart, and
 * MessagePack clients got the room under another name than JSON clients.
 */
export function roomName(room: unknown, how: string): void {
  if (typeof room === 'string' && room.length > 0 && room.length <= MAX_ROOM_NAME && isWellFormed(room)) return;
  const got = typeof room === 'string' ? (room.length > 40 ? `${JSON.stringify(room.slice(0, 40))}... (${room.length} characters)` : JSON.stringify(room)) : room === null ? 'null' : typeof room;
  throw rebindError('BAD_REQUEST', `ctx.${how}: a room name is a string of 1 to ${MAX_ROOM_NAME} characters without unpaired surrogates; got ${got}`);
}
