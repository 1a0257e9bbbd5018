import { FLOAT32_OPTIONS, Unpackr } from 'msgpackr';
import { readDecimals } from './decimal.ts';
import { DeltaError, readDelta } from './delta.ts';
import { applyWirePatches, type WirePatch } from './replica.ts';
import { unpackOwnKeys } from './wire-keys.ts';

// The replicas of the rooms a client is in, kept from the server's sync
// pushes: `$state` (a snapshot, with the room's key dictionary), `$delta`
// (the compact changes of a tick) and `$patch` (the older encoding: immer
// patches). docs/protocol.md describes all three.

// Sync deltas carry fractions as 32-bit floats to be rounded to their significant
// digits (the server sends a fraction that way only when this gives back exactly its number).
readDecimals();
const unpackr = new Unpackr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: 'number', useFloat32: FLOAT32_OPTIONS.DECIMAL_FIT });

/** A frame from the server, decoded: a text frame is JSON, a binary one MessagePack. */
export function readFrame(data: string | ArrayBuffer | Uint8Array): unknown {
  return typeof data === 'string' ? JSON.parse(data) : unpackOwnKeys(unpackr, data instanceof Uint8Array ? data : new Uint8Array(data), true);
}

export class SyncError extends Error {}

export class RoomReplicas {
  /** Room name to store name to that store's replica. */
  readonly rooms = new Map<string, Record<string, unknown>>();
  /** Room name to its key dictionary. */
  private readonly keys = new Map<string, Array<string | null>>();

  clear(): void {
    this.rooms.clear();
    this.keys.clear();
  }

  /** Applies a sync push; returns the room it changed. Throws SyncError for a push it cannot apply. */
  apply(event: '$state' | '$patch' | '$delta', payload: unknown): string | undefined {
    if (event === '$state') return this.state(payload as { room: string; stores: Record<string, unknown>; keys?: Array<string | null> });
    if (event === '$patch') return this.patch(payload as { room: string; patches: Array<WirePatch & { store: string }> });
    return this.delta(payload as unknown[]);
  }

  private state(body: { room: string; stores: Record<string, unknown>; keys?: Array<string | null> }): string {
    // With its keys, a $state is the whole room (a join, a new view): stores it no longer names go.
    // Without, it resends some stores of the room (a write above a viewed path).
    if (body.keys) this.keys.set(body.room, body.keys.slice());
    this.rooms.set(body.room, body.keys ? { ...body.stores } : { ...(this.rooms.get(body.room) ?? {}), ...body.stores });
    return body.room;
  }

  private patch(body: { room: string; patches: Array<WirePatch & { store: string }> }): string {
    const patches = body.patches.map((p): WirePatch => ({ op: p.op, path: [p.store, ...p.path], ...(p.op === 'remove' ? {} : { value: p.value }) }));
    this.rooms.set(body.room, applyWirePatches(this.rooms.get(body.room) ?? {}, patches) as Record<string, unknown>);
    return body.room;
  }

  private delta(body: unknown[]): string | undefined {
    const [room, added] = body as [string, unknown[]];
    const keys = this.keys.get(room);
    if (!keys) throw new SyncError(`a $delta for room "${room}" came before its $state`);
    learnKeys(room, keys, added);
    let patches: WirePatch[];
    try {
      patches = readDelta(body, keys, 2);
    } catch (err) {
      if (err instanceof DeltaError) throw new SyncError(`a $delta for room "${room}" could not be read: ${err.message}`);
      throw err;
    }
    if (patches.length === 0) return undefined;
    this.rooms.set(room, applyWirePatches(this.rooms.get(room) ?? {}, patches) as Record<string, unknown>);
    return room;
  }
}

/**
 * A delta's new keys: a string is the next id's key; null is the next id,
 * a row this member is not shown (yet); [id, key] names an earlier id (a row
 * entering its view, or a key that became public).
 */
function learnKeys(room: string, keys: Array<string | null>, added: unknown): void {
  if (!Array.isArray(added)) throw new SyncError(`a $delta for room "${room}" has no list of new keys`);
  for (const entry of added) {
    if (typeof entry === 'string' || entry === null) keys.push(entry);
    else if (Array.isArray(entry) && entry.length === 2 && Number.isInteger(entry[0]) && entry[0] >= 0 && entry[0] < keys.length && typeof entry[1] === 'string') keys[entry[0]] = entry[1];
    else throw new SyncError(`a $delta for room "${room}" has a new key that is neither a string, null nor [id, key] of a known id: ${JSON.stringify(entry)}`);
  }
}
