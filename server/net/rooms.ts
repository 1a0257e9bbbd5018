import type { RoomView } from '../api.ts';
import type { StoreRegistry } from '../store/registry.ts';
import type { StoreChange } from '../store/transaction.ts';
import { EncodedOnce, push } from './codec.ts';
import { IdBits } from './id-bits.ts';
import { PlayerRooms } from './player-rooms.ts';
import { TickChanges, type SyncOp } from './sync-changes.ts';
import { encodeOps, KeyDictionary } from './sync-encoding.ts';
import { RowPieces, type MemberDelta, type PickedPieces } from './sync-frame.ts';
import { firstPiece } from './sync-joins.ts';
import { TickOfRoom, type Room, type Seat, type SyncOptions } from './sync-tick.ts';
import { asTable, parseView, sameShape, startsWith, type ParsedView } from './sync-views.ts';
import { packCompact } from './sync-writer.ts';
import { viewSnapshot } from './view-snapshot.ts';

// Rooms, and the state sync that feeds them (docs/protocol.md). A member
// gets `$state` on joining: the room's key dictionary, the plain stores and
// paths its view shows, and its tables empty; their rows follow a few at a
// time. Then, once per tick, one `$delta` of the tick's coalesced changes
// it can see, encoded once per group of members who see the same thing.

export interface Member {
  readonly player: string;
  /** Sends an already-encoded message; false if the member is not connected. `snapshot`: a `$state` the server sends on its own, see Backpressure. */
  deliver(message: EncodedOnce, snapshot?: boolean): boolean;
  /** Bytes queued for this member and not yet read. */
  queued(): number;
}

/** What the gateway needs of room sync; PatchRooms (rooms-patches.ts) is the encoding before this one. */
export interface RoomSync {
  members(name: string): IterableIterator<Member>;
  roomsOf(player: string): string[];
  join(name: string, member: Member): void;
  leave(name: string, player: string): void;
  leaveAll(player: string): void;
  rejoin(member: Member): void;
  checkView(view: RoomView): void;
  setView(name: string, view: RoomView): void;
  broadcast(name: string, message: EncodedOnce): void;
  readonly onCommit: (changes: StoreChange[]) => void;
  flush(): void;
  stats(): { rooms: number; members: number };
}

/** Keys a room's dictionary may hold beyond twice its tables' rows before it starts again. */
const KEYS_SLACK = 8192;

export class Rooms implements RoomSync {
  private readonly rooms = new Map<string, Room>();
  private readonly byPlayer = new PlayerRooms();
  private readonly watching = new Map<string, Set<Room>>();
  /** Rooms with something to do at the next flush (changes, rows to send). */
  private readonly dirty = new Set<Room>();
  /** Rooms with a filter view: each tick checks whether a patch changed the filter's code. */
  private readonly filtered = new Set<Room>();
  private readonly changes = new TickChanges();
  private commitSeq = 0;

  constructor(
    private readonly registry: StoreRegistry,
    private readonly options: SyncOptions = {},
  ) {
    this.resolve = options.resolve ?? (() => undefined);
  }

  private readonly resolve: (name: string) => unknown;

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) this.rooms.set(name, (room = { name, seats: new Map(), view: null, dict: new KeyDictionary(), filters: new Map(), near: new Map() }));
    return room;
  }

  *members(name: string): IterableIterator<Member> {
    for (const seat of this.rooms.get(name)?.seats.values() ?? []) yield seat.member;
  }

  roomsOf(player: string): string[] {
    return this.byPlayer.of(player);
  }

  join(name: string, member: Member): void {
    const room = this.room(name);
    // Already a member on this connection: its replica is current, and a fresh $state would resend the whole room.
    if (room.seats.get(member.player)?.member === member) return;
    this.byPlayer.add(member.player, name);
    this.seat(room, member);
  }

  leave(name: string, player: string): void {
    const room = this.rooms.get(name);
    if (!room) return;
    room.seats.delete(player);
    this.byPlayer.remove(player, name);
    if (room.seats.size === 0 && room.view === null) this.rooms.delete(name);
  }

  leaveAll(player: string): void {
    this.byPlayer.removeAll(player, (name) => this.leave(name, player));
  }

  /** Replaces a member's connection (after a resume): it starts again from a fresh `$state`. */
  rejoin(member: Member): void {
    for (const name of this.roomsOf(member.player)) {
      const room = this.rooms.get(name);
      if (room) this.seat(room, member);
    }
  }

  checkView(view: RoomView): void {
    parseView(view, this.registry);
  }

  setView(name: string, view: RoomView): void {
    const room = this.room(name);
    const parsed = parseView(view, this.registry);
    const old = room.view;
    for (const store of old?.keys() ?? []) this.watching.get(store)?.delete(room);
    room.view = parsed;
    room.dict.hiddenStores = perMemberTables(parsed);
    if ([...parsed.values()].some((sight) => sight.kind === 'filter')) this.filtered.add(room);
    else this.filtered.delete(room);
    for (const store of parsed.keys()) {
      let rooms = this.watching.get(store);
      if (!rooms) this.watching.set(store, (rooms = new Set()));
      rooms.add(room);
    }
    if (old && sameShape(old, parsed)) {
      // Only a filter or a radius changed: members keep their rows, the next tick sorts them again.
      for (const seat of room.seats.values()) for (const sight of seat.rows.values()) sight.recheck = true;
      this.dirty.add(room);
      return;
    }
    for (const seat of room.seats.values()) this.seat(room, seat.member);
  }

  broadcast(name: string, message: EncodedOnce): void {
    // One member's failure (a message its encoding cannot carry) is not the others': each is tried.
    let failure: unknown;
    for (const seat of this.rooms.get(name)?.seats.values() ?? []) {
      try {
        seat.member.deliver(message);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }

  readonly onCommit = (changes: StoreChange[]): void => {
    const seq = ++this.commitSeq;
    for (const change of changes) {
      const rooms = this.watching.get(change.store.name);
      if (!rooms || rooms.size === 0) continue;
      for (const p of change.patches) this.changes.add(change.store.name, p, seq);
      for (const room of rooms) if (room.seats.size > 0) this.dirty.add(room);
    }
  };

  /** Sends each room's tick as one `$delta` per group of members who see the same; called once per tick. */
  flush(): void {
    const ops = this.changes.drain();
    // A patch of a filter's code changes what members see with no change of data.
    for (const room of this.filtered) {
      for (const [store, sight] of room.view ?? []) if (sight.kind === 'filter' && this.resolve(sight.name) !== room.filters.get(store)) this.dirty.add(room);
    }
    if (this.dirty.size === 0) return;
    const rooms = [...this.dirty];
    this.dirty.clear();
    for (const room of rooms) {
      if (!room.view || room.seats.size === 0) continue;
      if (this.keysOutgrown(room, room.view)) this.restart(room);
      this.flushRoom(room, room.view, ops);
    }
  }

  /**
   * A room's dictionary only grows (a player who left keeps their key), and
   * every joiner is sent all of it. Past its rows' needs by far, it starts
   * again: every member gets a fresh `$state` with the new, short one.
   */
  private keysOutgrown(room: Room, view: ParsedView): boolean {
    const slack = this.options.keysBeforeReset ?? KEYS_SLACK;
    if (room.dict.keys.length <= slack) return false;
    let rows = 0;
    for (const [name, sight] of view) if (sight.kind !== 'whole' && sight.kind !== 'paths') rows += asTable(this.registry.get(name)).size;
    return room.dict.keys.length > slack + 2 * rows;
  }

  private restart(room: Room): void {
    room.dict = new KeyDictionary();
    if (room.view) room.dict.hiddenStores = perMemberTables(room.view);
    for (const seat of [...room.seats.values()]) this.seat(room, seat.member);
  }

  /** Puts a member in a room from scratch: a `$state`, and every row of its tables still to come. */
  private seat(room: Room, member: Member): void {
    const seat: Seat = { member, since: this.commitSeq, rows: new Map(), taught: new IdBits() };
    room.seats.set(member.player, seat);
    if (!room.view) return;
    const stores: Record<string, unknown> = {};
    for (const [name, sight] of room.view) {
      const store = this.registry.get(name);
      if (sight.kind === 'whole') stores[name] = store.current();
      else if (sight.kind === 'paths') stores[name] = viewSnapshot(store.current(), sight.paths);
      else if (sight.kind === 'rows') {
        const { rows, sight: rowSight } = firstPiece(asTable(store), this.options.pieceBytes);
        stores[name] = rows;
        seat.rows.set(name, rowSight);
      } else {
        // Which rows a filter or a radius shows is sorted out at the next tick.
        stores[name] = {};
        seat.rows.set(name, { known: new Set(), pending: [], recheck: true });
      }
    }
    member.deliver(new EncodedOnce(push('$state', { room: room.name, stores, keys: room.dict.all() })), true);
    for (const sight of seat.rows.values()) if (sight.known !== null) this.dirty.add(room);
  }

  private flushRoom(room: Room, view: ParsedView, tickOps: readonly SyncOp[]): void {
    const ops: SyncOp[] = [];
    const resync = new Set<string>();
    for (const op of tickOps) {
      const sight = view.get(op.store);
      if (!sight) continue;
      if (sight.kind !== 'paths' || sight.paths.some((p) => startsWith(op.path, p))) ops.push(op);
      // A write above a viewed path (the store replaced, say): send that part again whole.
      else if (sight.paths.some((p) => p.length > op.path.length && startsWith(p, op.path.map(String)))) resync.add(op.store);
    }
    const shown = resync.size === 0 ? ops : ops.filter((op) => !resync.has(op.store));
    if (resync.size > 0) {
      const stores: Record<string, unknown> = {};
      for (const name of resync) stores[name] = viewSnapshot(this.registry.get(name).current(), (view.get(name) as { paths: string[][] }).paths);
      const message = new EncodedOnce(push('$state', { room: room.name, stores }));
      for (const seat of room.seats.values()) seat.member.deliver(message, true);
    }
    const pieces = new RowPieces(shown, room.dict);
    const tick = new TickOfRoom(room, view, shown, this.registry, this.options, pieces);
    const shares: Array<{ share: MemberDelta; seats: Seat[] }> = [];
    let everyone: { ops: readonly SyncOp[]; seats: Seat[] } | undefined;
    let own: { ops: readonly SyncOp[]; picked?: PickedPieces; seat: Seat } | undefined;
    for (const seat of room.seats.values()) {
      const { key, ops: seen, pieces: picked } = tick.forSeat(seat);
      if (tick.unfinished(seat)) this.dirty.add(room);
      if (key === '*') (everyone ??= { ops: seen, seats: [] }).seats.push(seat);
      // A member alone in a room is sent with one encoding (below); any other is taken now, while its pieces are its own.
      else if (room.seats.size === 1) own = { ops: seen, picked, seat };
      else shares.push({ share: pieces.take(seen, room.dict, picked, seat.since), seats: [seat] });
    }
    tick.done();
    // Everyone is sent the same (or there is one member): one encoding, nothing to share pieces with.
    if (everyone && shares.length === 0) return this.sendOne(room, everyone.ops, everyone.seats);
    if (own && (!own.picked || own.picked.count === 0)) return this.sendOne(room, own.ops, [own.seat]);
    if (own) shares.push({ share: pieces.take(own.ops, room.dict, own.picked, own.seat.since), seats: [own.seat] });
    if (everyone) shares.push({ share: pieces.take(everyone.ops, room.dict), seats: everyone.seats });
    const { added, revealed } = room.dict.takeNew();
    const shared: unknown[] = revealed.length > 0 ? [...added, ...revealed] : added;
    for (const { share, seats } of shares) {
      // Every member learns every new key (a hidden one as null), so that the room has one dictionary; rows entering its view, their names.
      const taught = this.teach(room.dict, seats, share.restOps);
      const message = pieces.frame(room.name, taught.length > 0 ? [...shared, ...taught] : shared, share);
      if (message) for (const seat of seats) seat.member.deliver(message);
    }
  }

  /** One `$delta` of `ops` for all of `seats`. */
  private sendOne(room: Room, ops: readonly SyncOp[], seats: readonly Seat[]): void {
    const tokens = encodeOps(ops, room.dict);
    const { added, revealed } = room.dict.takeNew();
    const taught = this.teach(room.dict, seats, ops);
    const keys: unknown[] = revealed.length + taught.length > 0 ? [...added, ...revealed, ...taught] : added;
    if (tokens.length === 0 && keys.length === 0) return;
    const message = new EncodedOnce(push('$delta', [room.name, keys, ...tokens]), packCompact);
    for (const seat of seats) seat.member.deliver(message);
  }

  /** The hidden row ids that `seats` are sent rows of this tick and were not told yet, as [id, key]. */
  private teach(dict: KeyDictionary, seats: readonly Seat[], ops: readonly SyncOp[]): Array<[number, string]> {
    const out: Array<[number, string]> = [];
    for (const op of ops) {
      const row = op.path[0];
      if (typeof row !== 'string' || !dict.hiddenStores.has(op.store)) continue;
      const id = op.idsOf === dict && op.path.length === 1 ? op.rowId! : dict.row(op.store, row);
      if (!dict.isHidden(id) || seats[0]!.taught.has(id)) continue;
      out.push([id, row]);
      for (const seat of seats) seat.taught.add(id);
    }
    return out;
  }

  stats(): { rooms: number; members: number } {
    let members = 0;
    for (const room of this.rooms.values()) members += room.seats.size;
    return { rooms: this.rooms.size, members };
  }
}

/** A view's tables that each member sees its own share of: their row ids are hidden keys. */
function perMemberTables(view: ParsedView): Set<string> {
  const out = new Set<string>();
  for (const [store, sight] of view) if (sight.kind === 'filter' || sight.kind === 'near') out.add(store);
  return out;
}
