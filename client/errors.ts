import type { Redirect } from './requests.ts';

// The one error type the client throws or rejects with, and which of its
// codes a later attempt can get past.

export class RebindClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** In a fleet: where the server sends this player (the client follows it on its own). */
    readonly redirect?: Redirect,
  ) {
    super(message);
    this.name = 'RebindClientError';
  }
}

export function asClientError(err: unknown): RebindClientError {
  if (err instanceof RebindClientError) return err;
  return new RebindClientError('CLIENT_ERROR', err instanceof Error ? err.message : String(err));
}

/** Failures that a later attempt can get past: the node is away, or the fleet has not noticed yet that it is. */
export const TRANSIENT = new Set(['CONNECT_FAILED', 'DISCONNECTED', 'FLEET_UNAVAILABLE', 'FLEET_TIMEOUT', 'ROOM_LOST', 'NODE_GONE', 'SHUTTING_DOWN']);
