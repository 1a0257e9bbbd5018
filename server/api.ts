// The one surface that state/ and logic/ may import from the host. At run
// time, logic's import of this file resolves to the host's own instance, so a
// patch never creates a second copy of anything here.

import { RebindError } from './errors.ts';
import { defined, mayDefine } from './store/define.ts';
import { Store, type StoreOptions } from './store/store.ts';
import { Table, type TableOptions } from './store/table.ts';

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
  /** Calls a handler by name, now, inside this transaction (internal ones too). */
  call<R = unknown>(name: string, payload?: unknown): R;
  /** Calls `name` with `payload` after `delayMs`, on whatever code is live then. Returns a timer id. */
  schedule(delayMs: number, name: string, payload?: unknown): string;
  /** Cancels a pending `schedule`; false if it already fired or never existed. */
  cancel(timerId: string): boolean;
  /** Pushes `[event, 0, payload]` to one player, once this transaction commits. */
  send(player: string, event: string, payload?: unknown): void;
  /** Pushes to every player in a room, once this transaction commits. */
  broadcast(room: string, event: string, payload?: unknown): void;
  /** Puts a player (default: the caller) in a room; the room's view syncs to them. */
  join(room: string, player?: string): void;
  leave(room: string, player?: string): void;
  /** Chooses which stores (and paths inside them) the members of a room are synced. */
  setRoomView(room: string, view: RoomView): void;
}

/** Store name to the paths of it that a room sees; `true` for the whole store. */
export type RoomView = Record<string, true | string[]>;

export type Handler<P = any, R = unknown> = (ctx: Ctx, payload: P) => R;

const PUBLIC = Symbol.for('rebind.public');

/** Marks a handler as callable by clients. Every other handler is internal. */
export function client<F extends Handler>(fn: F): F {
  Object.defineProperty(fn, PUBLIC, { value: true });
  return fn;
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
