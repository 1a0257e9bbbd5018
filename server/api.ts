// The one surface that state/ and logic/ may import from the host. At run
// time, logic's import of this file resolves to the host's own instance, so a
// patch never creates a second copy of anything here.

import { RebindError } from './errors.ts';
import { defined, mayDefine } from './store/define.ts';
import { Store, type StoreOptions } from './store/store.ts';
import { Table, type TableOptions } from './store/table.ts';
import type { ClientMark, InternalNameOf, KnownName, LooseName, MissingPayload, NameOf, PayloadArg, ReturnOf, ScheduledName, WrongPayload } from '../client/handler-types.ts';
import { isPayloadSchema, refuseAsyncSchema, validatePayload, type PayloadSchema, type SchemaInput, type SchemaOutput } from './schema.ts';

export type { PayloadSchema } from './schema.ts';

export type { Draft } from 'immer';
export type { Store, StoreOptions } from './store/store.ts';
export type { Table, TableOptions } from './store/table.ts';

/** Declares a store of one plain value. Call it in a `state/*.ts` file (logic/ may not: refused with STORE_OUTSIDE_STATE). */
export function defineStore<T>(name: string, initial: T, options?: StoreOptions): Store<T> {
  mayDefine('defineStore', name);
  return defined(new Store(name, initial, options));
}

/** Declares a keyed table of plain rows, each copied on write on its own. Only in `state/*.ts` files. */
export function defineTable<Row>(name: string, options?: TableOptions<Row>): Table<Row> {
  mayDefine('defineTable', name);
  return defined(new Table<Row>(name, options));
}

export interface Logger {
  debug(message: string, ...rest: unknown[]): void;
  info(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

/** What every handler, lifecycle hook and tick receives. */
export interface Ctx {
  /** The player who made this call, or null for timers, ticks, init and the CLI. */
  readonly player: string | null;
  /** The module whose code is running, e.g. `combat/melee`. */
  readonly module: string;
  readonly log: Logger;
  /**
   * Calls a handler by name, now, inside this transaction: client() handlers
   * and internal ones. Names and payloads are checked by tsc once
   * `rebind types` has run (the last two overloads only ever fail: tsc
   * reports the last overload's error, and theirs name the handler).
   */
  call<R = unknown>(name: LooseName<Handlers>, payload?: unknown): R;
  call<N extends NameOf<Handlers>>(name: N, ...payload: PayloadArg<Handlers, N>): ReturnOf<Handlers, N>;
  call<N extends string>(name: KnownName<N, NameOf<Handlers>>, payload: WrongPayload<Handlers, N>): unknown;
  call<N extends string>(name: KnownName<N, NameOf<Handlers>, MissingPayload<Handlers, N>>): unknown;
  /**
   * Calls `name` with `payload` after `delayMs`, on whatever code is live
   * then. Returns a timer id. A timer runs with no player, so only internal
   * handlers (not client() ones) can be scheduled.
   */
  schedule<N extends InternalNameOf<Handlers>>(delayMs: number, name: N, ...payload: PayloadArg<Handlers, N>): string;
  schedule<N extends string>(delayMs: number, name: ScheduledName<Handlers, N>, payload: WrongPayload<Handlers, N>): string;
  schedule<N extends string>(delayMs: number, name: ScheduledName<Handlers, N, MissingPayload<Handlers, N>>): string;
  /** Cancels a pending `schedule`; false if it already fired or never existed. */
  cancel(timerId: string): boolean;
  /** Pushes `[event, 0, payload]` to one player, once this transaction commits. */
  send(player: string, event: string, payload?: unknown): void;
  /** Pushes to every player in a room, once this transaction commits. */
  broadcast(room: string, event: string, payload?: unknown): void;
  /** Puts a player (default: the caller) in a room; the room's view syncs to them. */
  join(room: string, player?: string): void;
  leave(room: string, player?: string): void;
  /**
   * Runs handler `name` on the node that holds `room`, as its own transaction
   * there (not part of this one), and resolves to its result. Sent at once,
   * whether or not this transaction commits. Rejects with ROOM_LOST (no node
   * holds the room), NODE_GONE or FLEET_TIMEOUT (its node did not answer),
   * FLEET_UNAVAILABLE (Redis is down), or the handler's own error. Without a
   * fleet every room is here, and it runs here the same way.
   */
  callRoom<R = unknown>(room: string, name: string, payload?: unknown): Promise<R>;
  /** Chooses which stores (and paths inside them) the members of a room are synced. */
  setRoomView(room: string, view: RoomView): void;
}

/**
 * How a room's members see one store: `true` all of it; a list of dotted
 * paths those parts; on a table, `{ filter: 'module.export' }` the rows that
 * function (row, viewerId) => boolean lets each member see, looked up by name
 * at every tick, or `{ near: { radius, cell? } }` the rows whose x and y lie
 * within `radius` of the viewer's own row (the row keyed by the player's id).
 */
export type ViewSpec = true | string[] | { filter: string } | { near: { radius: number; cell?: number } };

/** Store name to how a room sees it. */
export type RoomView = Record<string, ViewSpec>;

export type Handler<P = any, R = unknown> = (ctx: Ctx, payload: P) => R;

/**
 * Every handler of the game by name, to its type: filled in by the
 * rebind-env.d.ts that `rebind types` writes (`'arena.move': typeof
 * import('./logic/arena.ts')['move']`). Empty, names are plain strings.
 */
export interface Handlers {}

/** What a `client()` handler receives: it always runs for a player (see NEEDS_PLAYER). */
export interface ClientCtx extends Ctx {
  readonly player: string;
}

/**
 * What the session hooks `join`, `resume`, `drop` and `leave` receive: the
 * host calls them for a player, so `ctx.player` is a string. (`auth` runs
 * before there is a player: it takes a plain Ctx.) Called without a player
 * (from a timer, `rebind call` without `--as`), a session hook is refused
 * with NEEDS_PLAYER before it runs; ctx.schedule of one is a type error.
 */
export type SessionCtx = ClientCtx;

/**
 * What the session module's `place` hook receives on a fleet (docs/api.md,
 * Placement): it only looks, so its ctx has no calls, pushes or writes.
 */
export interface PlaceCtx {
  /** The player whose join places the room. */
  readonly player: string;
  readonly module: string;
  readonly log: Logger;
}

/** A room no node holds yet, the player joining it, and the live nodes with their load at the last heartbeat. */
export interface PlaceRequest {
  room: string;
  player: string;
  nodes: Array<{ id: string; players: number; rooms: number; here: boolean }>;
}

/** A handler callable by clients, as client() returns it: its type carries the mark that `rebind types` sorts names by. */
export type ClientHandler<P, R> = ((ctx: ClientCtx, payload: P) => R) & ClientMark;

const PUBLIC = Symbol.for('rebind.public');

/**
 * Marks a handler as callable by clients. Every other handler is internal.
 * With a Standard Schema first (zod, valibot, arktype...), a payload that
 * fails it is refused with BAD_PAYLOAD and the schema's message before the
 * handler runs, and the handler gets the schema's output.
 */
export function client<P = undefined, R = unknown>(fn: (ctx: ClientCtx, payload: P) => R): ClientHandler<P, R>;
export function client<S extends PayloadSchema<any, any>, R>(schema: S, fn: (ctx: ClientCtx, payload: SchemaOutput<S>) => R): ClientHandler<SchemaInput<S>, R>;
export function client(first: unknown, second?: unknown): Handler & ClientMark {
  let fn: Handler;
  if (typeof second === 'function') {
    if (!isPayloadSchema(first)) throw new TypeError('client(schema, handler): the first argument is not a Standard Schema (it has no ~standard.validate)');
    const handler = second as Handler;
    const schema = first;
    refuseAsyncSchema(schema);
    // The dispatcher puts the handler's name (`arena.move`) in front of an error; the function's own name may be empty.
    fn = (ctx, payload) => handler(ctx, validatePayload(schema, payload, handler.name));
  } else fn = first as Handler;
  Object.defineProperty(fn, PUBLIC, { value: true });
  return fn as Handler & ClientMark;
}

export function isClientHandler(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[PUBLIC] === true;
}

/** Throws an error the client receives as `{code, message}` as written here. */
export function fail(code: string, message: string): never {
  throw new GameError(code, message);
}

/** An error that game logic means to show to the caller (unlike a crash). */
export class GameError extends RebindError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'GameError';
  }
}

/** A migration moves a store's data from version N (the key) to N + 1. */
export type Migrations = Record<string, Record<number, (draft: any) => any>>;
