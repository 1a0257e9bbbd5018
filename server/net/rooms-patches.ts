import type { RoomView } from '../api.ts';
import { rebindError } from '../errors.ts';
import type { StoreLike } from '../store/store.ts';
import type { StoreRegistry } from '../store/registry.ts';
import type { StorePatch } from '../store/array-delta.ts';
import type { StoreChange } from '../store/transaction.ts';
import type { Member, RoomSync } from './rooms.ts';
import { EncodedOnce, push } from './codec.ts';
import { PlayerRooms } from './player-rooms.ts';
import { viewSnapshot } from './view-snapshot.ts';

// The state sync of rebind before the compact delta (rooms.ts), kept so
// that `npm run bench` can measure both in one run (GameServer option
// `sync: 'patches'`): a member gets a full snapshot on joining (`$state`),
// then, once per tick, the immer patches since (`$patch`), encoded once per
// room. Views name stores and paths only (no filters, no radius).

export interface SyncPatch {
  store: string;
  op: StorePatch['op'];
  path: StorePatch['path'];
  value?: unknown;
}

interface Room {
  name: string;
  members: Map<string, Member>;
  /** Commit number each member's snapshot already includes. */
  since: Map<string, number>;
  view: Map<string, Array<Array<string>> | true> | null;
  pending: Array<{ seq: number; patch: SyncPatch }>;
  /** Stores whose view was replaced wholesale this tick: resend them in full. */
  resync: Set<string>;
}

function parseView(view: RoomView, registry: StoreRegistry): Room['view'] {
  const parsed = new Map<string, Array<Array<string>> | true>();
  for (const [store, paths] of Object.entries(view)) {
    registry.get(store);
    if (paths === true) parsed.set(store, true);
    else if (Array.isArray(paths) && paths.every((p) => typeof p === 'string')) parsed.set(store, paths.map((p) => (p === '' ? [] : p.split('.'))));
    else throw rebindError('BAD_REQUEST', `room view for "${store}" must be true or a list of dotted paths`);
  }
  return parsed;
}

function startsWith(path: readonly (string | number)[], prefix: readonly string[]): boolean {
  if (path.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (String(path[i]) !== prefix[i]) return false;
  return true;
}

/** The part of a store a view shows, shaped like the store so patch paths apply to it. */
function storeView(store: StoreLike, paths: Array<Array<string>> | true): unknown {
  return paths === true ? store.current() : viewSnapshot(store.current(), paths);
}

export class PatchRooms implements RoomSync {
  private readonly rooms = new Map<string, Room>();
  private readonly byPlayer = new PlayerRooms();
  /** Store name to the rooms whose view shows it: a commit visits only those. */
  private readonly watching = new Map<string, Set<Room>>();
  /** Rooms with something to send at the next flush. */
  private readonly dirty = new Set<Room>();
  private commitSeq = 0;

  constructor(private readonly registry: StoreRegistry) {}

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) this.rooms.set(name, (room = { name, members: new Map(), since: new Map(), view: null, pending: [], resync: new Set() }));
    return room;
  }

  members(name: string): IterableIterator<Member> {
    return (this.rooms.get(name)?.members ?? new Map<string, Member>()).values();
  }

  roomsOf(player: string): string[] {
    return this.byPlayer.of(player);
  }

  join(name: string, member: Member): void {
    const room = this.room(name);
    room.members.set(member.player, member);
    this.byPlayer.add(member.player, name);
    this.sendSnapshot(room, member);
  }

  leave(name: string, player: string): void {
    const room = this.rooms.get(name);
    if (!room) return;
    room.members.delete(player);
    room.since.delete(player);
    this.byPlayer.remove(player, name);
    if (room.members.size === 0 && room.view === null) this.rooms.delete(name);
  }

  leaveAll(player: string): void {
    this.byPlayer.removeAll(player, (name) => this.leave(name, player));
  }

  /** Replaces a member's connection (after a resume) and sends it fresh snapshots. */
  rejoin(member: Member): void {
    for (const name of this.roomsOf(member.player)) {
      const room = this.rooms.get(name);
      if (!room) continue;
      room.members.set(member.player, member);
      this.sendSnapshot(room, member);
    }
  }

  /** Throws BAD_REQUEST or UNKNOWN_STORE for a view that names what does not exist. */
  checkView(view: RoomView): void {
    if (view === null || typeof view !== 'object') throw rebindError('BAD_REQUEST', 'a room view is an object of store names');
    parseView(view, this.registry);
  }

  setView(name: string, view: RoomView): void {
    const room = this.room(name);
    for (const store of room.view?.keys() ?? []) this.watching.get(store)?.delete(room);
    room.view = parseView(view, this.registry);
    for (const store of room.view!.keys()) {
      let rooms = this.watching.get(store);
      if (!rooms) this.watching.set(store, (rooms = new Set()));
      rooms.add(room);
    }
    room.pending = [];
    room.resync.clear();
    for (const member of room.members.values()) this.sendSnapshot(room, member);
  }

  broadcast(name: string, message: EncodedOnce): void {
    const room = this.rooms.get(name);
    if (!room) return;
    for (const member of room.members.values()) member.deliver(message);
  }

  /** Commit listener: keeps, per room, the patches its view shows. */
  readonly onCommit = (changes: StoreChange[]): void => {
    const seq = ++this.commitSeq;
    for (const change of changes) {
      const name = change.store.name;
      const rooms = this.watching.get(name);
      if (!rooms) continue;
      for (const room of rooms) {
        if (room.members.size === 0) continue;
        const paths = room.view!.get(name)!;
        for (const p of change.patches) {
          if (paths === true || paths.some((view) => startsWith(p.path, view))) {
            room.pending.push({ seq, patch: toSync(name, p) });
            this.dirty.add(room);
          } else if (paths.some((view) => view.length > p.path.length && startsWith(view, p.path.map(String)))) {
            room.resync.add(name);
            this.dirty.add(room);
          }
        }
      }
    }
  };

  /** Sends each room's batched patches; called once per tick. */
  flush(): void {
    for (const room of this.dirty) {
      const pending = room.pending;
      room.pending = [];
      if (room.resync.size > 0) {
        const stores = [...room.resync];
        room.resync.clear();
        // A wholesale replacement: send those stores again, and drop their now-stale patches.
        const kept = pending.filter((p) => !stores.includes(p.patch.store));
        const snapshot = new EncodedOnce(push('$state', { room: room.name, stores: this.snapshotOf(room, stores) }));
        for (const member of room.members.values()) member.deliver(snapshot, true);
        this.deliverPatches(room, kept);
      } else this.deliverPatches(room, pending);
    }
    this.dirty.clear();
  }

  private deliverPatches(room: Room, pending: Room['pending']): void {
    if (pending.length === 0) return;
    const first = pending[0]!.seq;
    const all = new EncodedOnce(push('$patch', { room: room.name, patches: pending.map((p) => p.patch) }));
    for (const member of room.members.values()) {
      const since = room.since.get(member.player) ?? 0;
      if (since < first) {
        member.deliver(all);
        continue;
      }
      // Joined during this tick: its snapshot already holds the earlier patches.
      const newer = pending.filter((p) => p.seq > since).map((p) => p.patch);
      if (newer.length > 0) member.deliver(new EncodedOnce(push('$patch', { room: room.name, patches: newer })));
    }
  }

  private snapshotOf(room: Room, only?: string[]): Record<string, unknown> {
    const stores: Record<string, unknown> = {};
    for (const [name, paths] of room.view ?? []) {
      if (only && !only.includes(name)) continue;
      stores[name] = storeView(this.registry.get(name), paths);
    }
    return stores;
  }

  private sendSnapshot(room: Room, member: Member): void {
    room.since.set(member.player, this.commitSeq);
    if (!room.view) return;
    member.deliver(new EncodedOnce(push('$state', { room: room.name, stores: this.snapshotOf(room) })), true);
  }

  stats(): { rooms: number; members: number } {
    let members = 0;
    for (const room of this.rooms.values()) members += room.members.size;
    return { rooms: this.rooms.size, members };
  }
}

function toSync(store: string, p: StorePatch): SyncPatch {
  return p.op === 'remove' ? { store, op: p.op, path: p.path } : { store, op: p.op, path: p.path, value: p.value };
}
