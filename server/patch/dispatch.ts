import { types } from 'node:util';
import { whenSettled } from '../settle.ts';
import { GameError, type Ctx, type Logger, type RoomView } from '../api.ts';
import { isRebindError, rebindError, RebindError, type SourceLocation } from '../errors.ts';
import { createLogger } from '../log.ts';
import { CallStatsBook, metricsEnabled } from '../metrics/call-stats.ts';
import { ErrorThrottle, leftOutNote } from './error-throttle.ts';
import { afterCommit, savepoint, transact } from '../store/transaction.ts';
import type { BindingTable, ModuleVersion } from './bindings.ts';
import { runEnded, runId, runInProgress, runStarted } from './busy.ts';
import { locateError, mapStack, mapThrown } from './sourcemaps.ts';
import { thrownMessage } from '../thrown.ts';
import { pushable, roomName } from './outbox-checks.ts';
import { monoNow, wallNow } from '../host-globals.ts';

// Every call, from a client, another handler, a timer or the CLI, goes
// through here: the name is resolved in the binding table at the moment of
// the call, and the call's synchronous run is one store transaction.

export type Origin = 'client' | 'internal' | 'timer' | 'admin' | 'system';

/** What the network layer does for logic; pushes happen only after commit. */
export interface Outbox {
  send(player: string, event: string, payload: unknown): void;
  broadcast(room: string, event: string, payload: unknown): void;
  join(room: string, player: string): void;
  leave(room: string, player: string): void;
  setRoomView(room: string, view: RoomView): void;
  /** Throws if a view names stores or paths that do not exist, so the handler that sets it fails. */
  checkRoomView?(view: RoomView): void;
  /** In a fleet: throws ROOM_ELSEWHERE (or ROOM_LOST) when the room is, or is to be, on another node, so the joining handler fails and the client is sent there. */
  placeRoom?(room: string, player: string): void;
  /** Runs a handler on the node that holds `room`, as its own transaction (server/fleet/router.ts); without it, here. */
  callRoom?(room: string, name: string, payload: unknown, player: string | null): Promise<unknown>;
}

export interface TimerService {
  schedule(delayMs: number, name: string, payload: unknown, player: string | null): string;
  cancel(id: string): boolean;
}

const loggers = new Map<string, Logger>();
const logged = new WeakSet<Error>();
function loggerFor(module: string): Logger {
  let log = loggers.get(module);
  if (!log) loggers.set(module, (log = createLogger(module)));
  return log;
}

class CallContext implements Ctx {
  constructor(
    private readonly dispatcher: Dispatcher,
    readonly player: string | null,
    readonly module: string,
  ) {}

  get log(): Logger {
    return loggerFor(this.module);
  }

  call<R>(name: string, payload?: unknown): R {
    return savepoint(() => this.dispatcher.invoke(name, payload, this.player, 'internal')) as R;
  }

  schedule(delayMs: number, name: string, payload?: unknown): string {
    return this.dispatcher.timers.schedule(delayMs, name, payload ?? null, this.player);
  }

  cancel(timerId: string): boolean {
    return this.dispatcher.timers.cancel(timerId);
  }

  send(player: string, event: string, payload?: unknown): void {
    const outbox = this.dispatcher.outbox;
    const checked = pushable('send', event, payload);
    afterCommit(() => outbox.send(player, event, checked));
  }

  broadcast(room: string, event: string, payload?: unknown): void {
    const outbox = this.dispatcher.outbox;
    roomName(room, 'broadcast');
    const checked = pushable('broadcast', event, payload);
    afterCommit(() => outbox.broadcast(room, event, checked));
  }

  join(room: string, player?: string): void {
    roomName(room, 'join');
    const who = this.target(player, 'join');
    const outbox = this.dispatcher.outbox;
    outbox.placeRoom?.(room, who);
    afterCommit(() => outbox.join(room, who));
  }

  leave(room: string, player?: string): void {
    roomName(room, 'leave');
    const who = this.target(player, 'leave');
    const outbox = this.dispatcher.outbox;
    afterCommit(() => outbox.leave(room, who));
  }

  callRoom<R>(room: string, name: string, payload?: unknown): Promise<R> {
    roomName(room, 'callRoom');
    const { outbox } = this.dispatcher;
    if (outbox.callRoom) return outbox.callRoom(room, name, payload ?? null, this.player) as Promise<R>;
    // One process holds every room: the same promise, the same separate transaction, here.
    return Promise.resolve().then(() => this.dispatcher.invoke(name, payload ?? null, this.player, 'internal')) as Promise<R>;
  }

  setRoomView(room: string, view: RoomView): void {
    roomName(room, 'setRoomView');
    const outbox = this.dispatcher.outbox;
    outbox.checkRoomView?.(view);
    afterCommit(() => outbox.setRoomView(room, view));
  }

  private target(player: string | undefined, what: string): string {
    const who = player ?? this.player;
    if (!who) throw rebindError('NOT_JOINED', `ctx.${what}: no player given and this call has no caller`);
    return who;
  }
}

/**
 * A client handler runs for the player who calls it, so its `ctx.player` is a
 * string. Called without one (the CLI without --as, a timer scheduled by
 * init), reading it refuses the call instead of answering null: the handler
 * stops there and its transaction is dropped.
 */
function requirePlayer(ctx: CallContext, name: string): void {
  Object.defineProperty(ctx, 'player', {
    get: () => {
      throw rebindError('NEEDS_PLAYER', `${name} is a client handler and reads ctx.player, but this call has no player (from the CLI: rebind call ${name} '<json>' --as <player id>)`, {
        details: { handler: name },
      });
    },
  });
}

/** Calls and errors of one handler, or of one lifecycle hook (`arena.tick`, `chat.init`). */
export interface HandlerStats {
  calls: number;
  errors: number;
  lastError?: { code: string; message: string; at: string; location?: SourceLocation };
  /** This name's number for the busy watchdog (see busy.ts). */
  runId: number;
}

export type Hook = 'init' | 'dispose' | 'tick';

function statsOf(map: Map<string, HandlerStats>, name: string): HandlerStats {
  let stats = map.get(name);
  if (!stats) map.set(name, (stats = { calls: 0, errors: 0, runId: runId(name) }));
  return stats;
}

// Where an error came from in logic (its innermost mapped frame) is worked
// out only when someone looks (status, a log line), and once per error
// object: formatting a stack and mapping it costs far more than a call, and a
// handler that catches a failing ctx.call in a loop must not pay it each time.
const locations = new WeakMap<object, SourceLocation | null>();

/** The mapped logic location of `err`, computed once per error object. */
function locationOf(err: unknown): SourceLocation | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  let location = locations.get(err);
  if (location === undefined) locations.set(err, (location = locateError(err) ?? null));
  return location ?? undefined;
}

/** What a thrown value is to the dispatcher, worked out once per failure and without throwing. */
export interface Thrown {
  /** The engine's coded error, when the value is one (a fail() from logic, a store's refusal); else a crash. */
  coded?: RebindError;
  /** A GameError: logic's own refusal, passed on quietly. */
  game: boolean;
}

const CODED_FIELDS = ['code', 'message'] as const;

/**
 * Reads a thrown value as the dispatcher needs it. Logic may throw anything, and `instanceof` or a property read
 * runs logic's code on a Proxy (its traps) or a revoked one (a TypeError), or on a getter: had that thrown here, the
 * call's counters and its log line would be skipped and the caller would get the server's own TypeError. So a
 * Proxy is never a coded error, the prototype walk is guarded, and a coded error's code and message must be its own
 * plain strings (not getters): anything else is a crash, reported through thrown.ts.
 */
export function readThrown(err: unknown): Thrown {
  // isRebindError never runs a Proxy's trap and never throws.
  if (!isRebindError(err)) return { game: false };
  try {
    for (const field of CODED_FIELDS) {
      const own = Object.getOwnPropertyDescriptor(err, field);
      if (!own || !('value' in own) || typeof own.value !== 'string') return { game: false };
    }
    return { coded: err, game: err instanceof GameError };
  } catch {
    return { game: false };
  }
}

/**
 * A fleet's redirect (the room or the player is on another node, or is being placed): the call is run again, here
 * or on that node, and counts there. Not a failure of the handler: a patch's verification must not see one.
 */
function isRedirect(thrown: Thrown): boolean {
  // The host's own (a fail('ROOM_ELSEWHERE') from logic is logic's error like any other).
  return !thrown.game && (thrown.coded?.code === 'ROOM_ELSEWHERE' || thrown.coded?.code === 'PLAYER_ELSEWHERE');
}

/** Counts an error and remembers it; its time and location are worked out when read. */
function countError(stats: HandlerStats, err: unknown, thrown: Thrown): void {
  stats.errors++;
  const when = wallNow();
  stats.lastError = {
    code: thrown.coded?.code ?? 'HANDLER_ERROR',
    message: thrownMessage(err),
    get at() {
      return new Date(when).toISOString();
    },
    get location() {
      return locationOf(err);
    },
  };
}

/** The session module's hooks that the host runs for a player (net/lifecycle.ts). */
const SESSION_HOOKS = new Set(['join', 'resume', 'drop', 'leave', 'arrived']);

const NO_OUTBOX: Outbox = {
  send() {},
  broadcast() {},
  join() {},
  leave() {},
  setRoomView() {},
};

export class Dispatcher {
  readonly stats = new Map<string, HandlerStats>();
  /** Calls, errors and latency per handler and module version. */
  readonly callStats = new CallStatsBook();
  /**
   * Runs and errors of lifecycle hooks (`arena.tick`) per module version, so a patch's verification can count the
   * new version's hook errors (verify.ts). Counted whatever REBIND_METRICS says: hooks run a few dozen times a second.
   */
  readonly hookStats = new CallStatsBook();
  private readonly errorThrottle = new ErrorThrottle();
  outbox: Outbox = NO_OUTBOX;
  /** The logic module whose join/resume/drop/leave hooks the host runs for a player (the gateway sets it). */
  sessionModule = 'session';
  private readonly log = createLogger('calls');

  constructor(
    readonly bindings: BindingTable,
    public timers: TimerService,
  ) {}

  context(player: string | null, module: string): Ctx {
    return new CallContext(this, player, module);
  }

  /**
   * Calls a handler by name inside the current transaction (or a new one).
   * Returns what the handler returns, a promise included; throws a
   * RebindError. `client` calls may reach only handlers marked `client()`.
   */
  invoke(name: string, payload: unknown, player: string | null, origin: Origin, arrivedAt?: number): unknown {
    const binding = this.bindings.resolveFor(name, player);
    if (!binding) {
      throw rebindError('UNKNOWN_HANDLER', `no handler named "${name}"`, { details: { handler: name } });
    }
    if (origin === 'client' && !binding.public) {
      throw rebindError('NOT_PUBLIC', `"${name}" is not callable by clients (export it with client())`, { details: { handler: name } });
    }
    const stats = statsOf(this.stats, name);
    stats.calls++;
    if (player === null && this.isSessionHook(name, binding.module.module)) {
      throw rebindError('NEEDS_PLAYER', `${name} is a session hook: the host runs it for a player, and this call has none (from the CLI: rebind call ${name} --as <player id>; from logic: ctx.call it in a call that has a player)`, {
        details: { handler: name },
      });
    }
    const ctx = new CallContext(this, player, binding.module.module);
    if (player === null && binding.public) requirePlayer(ctx, name);
    let result: unknown;
    // Per version, for metrics and a patch's verification: plain counters, read at scrape time. A client call is
    // timed from its frame's arrival (the rate limiter read the clock then): one clock read a call, not two.
    const perVersion = metricsEnabled ? (binding.stats ??= this.callStats.for(name, binding.module)) : undefined;
    const started = perVersion ? (arrivedAt ?? monoNow()) : 0;
    // Only the outermost run is watched: a nested ctx.call is part of its caller's run. Not "outside a
    // transaction": session hooks run inside the host's own (session.join with the session's row).
    const run = runInProgress() ? 0 : runStarted(stats.runId);
    try {
      result = transact(() => binding.fn(ctx, payload));
    } catch (err) {
      const thrown = readThrown(err);
      if (isRedirect(thrown)) {
        stats.calls--;
        throw err;
      }
      countError(stats, err, thrown);
      perVersion?.record(monoNow() - started, true);
      throw this.handlerError(name, err, thrown, binding.module, player);
    } finally {
      if (run !== 0) runEnded(run, name);
    }
    // isPromise, not instanceof: a Proxy's getPrototypeOf trap would run (and throw) here, after the call counted.
    if (types.isPromise(result)) {
      // Counted as in flight until it answers: a call that never does still counts (verify.ts, /metrics).
      const call = perVersion?.begin(started) ?? 0;
      return whenSettled(
        result,
        (value) => {
          perVersion?.settle(call, monoNow() - started, false);
          return value;
        },
        (err: unknown) => {
          const thrown = readThrown(err);
          if (isRedirect(thrown)) {
            stats.calls--;
            perVersion?.withdraw(call);
            throw err;
          }
          countError(stats, err, thrown);
          perVersion?.settle(call, monoNow() - started, true);
          throw this.handlerError(name, err, thrown, binding.module, player);
        },
      );
    }
    perVersion?.record(monoNow() - started, false);
    return result;
  }

  /** A session hook is known by its module (the session module) and name; `auth` runs before there is a player. */
  private isSessionHook(name: string, module: string): boolean {
    return module === this.sessionModule && SESSION_HOOKS.has(name.slice(module.length + 1));
  }

  /**
   * Runs a lifecycle hook (init, dispose, tick) of one version in a
   * transaction, counted like a handler under `module.hook`; throws what the
   * hook threw. An async hook's returned promise is passed on; if it
   * rejects, the error is counted too (with its location), and the promise
   * passed on rejects with it: a caller must handle it (host.tick and
   * dispose do), so it is never an unhandled rejection.
   */
  lifecycle(version: ModuleVersion, hook: Hook, ...args: unknown[]): unknown {
    const fn = version[hook] as ((ctx: Ctx, ...rest: unknown[]) => unknown) | undefined;
    if (!fn) return undefined;
    const name = `${version.module}.${hook}`;
    const stats = statsOf(this.stats, name);
    stats.calls++;
    const ctx = new CallContext(this, null, version.module);
    const perVersion = this.hookStats.for(name, version);
    const started = monoNow();
    const run = runInProgress() ? 0 : runStarted(stats.runId);
    let result: unknown;
    try {
      result = transact(() => fn(ctx, ...args));
    } catch (err) {
      countError(stats, err, readThrown(err));
      perVersion.record(monoNow() - started, true);
      throw err;
    } finally {
      if (run !== 0) runEnded(run, name);
    }
    if (types.isPromise(result)) {
      const call = perVersion.begin(started);
      return whenSettled(
        result,
        (value) => {
          perVersion.settle(call, monoNow() - started, false);
          return value;
        },
        (err: unknown) => {
          countError(stats, err, readThrown(err));
          perVersion.settle(call, monoNow() - started, true);
          throw err;
        },
      );
    }
    perVersion.record(monoNow() - started, false);
    return result;
  }

  /**
   * Errors raised with fail() pass through quietly; other coded errors (a
   * store refusing data, an unknown handler in ctx.call) pass through and are
   * logged; a crash becomes HANDLER_ERROR, its stack logged. Each error is
   * logged once, however many ctx.call levels it crosses.
   */
  private handlerError(name: string, err: unknown, thrown: Thrown, version: ModuleVersion, player: string | null): RebindError {
    const { coded } = thrown;
    if (coded && thrown.game) return coded;
    if (coded && logged.has(coded)) return coded; // logged where it was first raised
    // Fields a log search can use: which handler, which version of its code, whose call, and where in logic/.
    const location = locationOf(err);
    const fields = { handler: name, module: version.module, version: version.version, hash: version.hash.slice(0, 8), player, ...(location ? { location: `${location.file}:${location.line}:${location.column}` } : {}) };
    // One line per kind of failure per 5 s (error-throttle.ts): a handler failing on every call must not flood the log.
    const code = coded?.code ?? 'HANDLER_ERROR';
    const admitted = this.errorThrottle.admit(`${name}@${version.version}:${fields.location ?? ''}:${code}`);
    const more = leftOutNote(admitted.leftOut);
    if (coded) {
      if (admitted.log) this.log.event('warn', `${name} failed: ${coded.code}: ${coded.message}${more}`, { ...fields, code, leftOut: admitted.leftOut });
      logged.add(coded);
      return coded;
    }
    const message = thrownMessage(err);
    if (admitted.log) {
      const stack = mapThrown(err);
      this.log.event('error', `${name} threw${more}: ${stack}`, { ...fields, code, leftOut: admitted.leftOut });
    }
    const wrapped = rebindError('HANDLER_ERROR', `${name} failed: ${message}`, { details: { handler: name } });
    logged.add(wrapped);
    return wrapped;
  }
}
