import { verifyWindowProblem } from '../patch/verify-window.ts';
import { rebindError } from '../errors.ts';
import type { Origin } from '../patch/history.ts';
import type { GameServer } from '../server.ts';
import type { AdminAction } from './admin.ts';
import { fleetStatus } from '../fleet/patch-status.ts';
import { fleetPatch } from './fleet-patch.ts';
import { readThrown } from '../patch/dispatch.ts';
import { thrownMessage } from '../thrown.ts';

// What the CLI and the dashboard can do. Every action goes through the same
// host API that the tests drive.

const ROW_LIMIT = 1000;

function origin(args: Record<string, unknown>): Origin {
  return args.origin === 'dashboard' ? 'dashboard' : 'cli';
}

function strings(value: unknown, what: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw rebindError('BAD_REQUEST', `${what} must be a list of names`);
  return value as string[];
}

function readState(server: GameServer, store: unknown, path: unknown): unknown {
  if (typeof store !== 'string') throw rebindError('BAD_REQUEST', 'state needs a store name');
  const s = server.host.registry.get(store);
  const parts = typeof path === 'string' && path.length > 0 ? path.split('.') : [];
  let value: unknown;
  if (s.kind === 'table') {
    const table = s as unknown as { get(id: string): unknown; size: number; ids(): Iterable<string>; toObject(): unknown };
    if (parts.length === 0) {
      if (table.size <= ROW_LIMIT) return table.toObject();
      return { truncated: true, rows: table.size, firstIds: [...table.ids()].slice(0, 100), hint: `name a row: rebind state ${store} <id>` };
    }
    value = table.get(parts.shift()!);
  } else value = (s as unknown as { get(): unknown }).get();
  for (const [i, key] of parts.entries()) {
    // Own keys only: a path through "constructor" or "__proto__" reads nothing.
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) {
      throw rebindError('UNKNOWN_PATH', `${store} has nothing at ${[...parts.slice(0, i + 1)].join('.')}`, { details: { store, path } });
    }
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined) throw rebindError('UNKNOWN_PATH', `${store} has nothing at ${String(path)}`, { details: { store, path } });
  return value;
}

/**
 * What a handler answered, awaited. The dispatcher turns every failure of the handler into a coded error; anything
 * else was thrown by reading the result itself (awaiting it reads its `then`: a Proxy's trap, a getter), which is
 * the handler's result failing, not the request.
 */
async function settled(handler: string, result: unknown): Promise<unknown> {
  try {
    return await result;
  } catch (err) {
    if (readThrown(err).coded) throw err;
    throw rebindError('HANDLER_ERROR', `the result of ${handler} could not be read: ${thrownMessage(err)}`);
  }
}

/** The result as the reply carries it: nothing is null; a symbol or a function, which JSON would leave out (the CLI printed "undefined"), is HANDLER_ERROR. */
function carried(handler: string, value: unknown): unknown {
  if (typeof value === 'symbol' || typeof value === 'function') throw rebindError('HANDLER_ERROR', `${handler} returned a ${typeof value}, which the reply cannot carry (JSON has none)`);
  return value ?? null;
}

export function adminActions(server: GameServer): Record<string, AdminAction> {
  const host = server.host;
  /** Answers only once what the action committed is durable, like a player's call (PERSIST_ERROR while the disk fails). */
  const durably = async <T>(run: () => T | Promise<T>): Promise<T> => {
    const mark = server.persistence?.writeMark();
    const result = await run();
    if (mark !== undefined) await server.persistence?.durableSince(mark);
    return result;
  };
  return {
    // In a fleet: every node, its players, rooms and code, and which differ from the fleet's manifest.
    status: async () => (server.fleetPatcher ? { ...server.status(), fleet: await fleetStatus(server.fleetPatcher) } : server.status()),
    series: () => server.series.list(),
    history: (args) => host.history(typeof args.n === 'number' && args.n > 0 ? args.n : 20),
    patch: async (args, by, applied) => {
      // verify: a window in ms; the answer then waits for the verification's outcome (or the early rollback).
      const problem = args.verify === undefined ? undefined : verifyWindowProblem(args.verify);
      if (problem) throw rebindError('BAD_REQUEST', `the verification window (verify, sent in milliseconds) ${problem}`);
      const verify = typeof args.verify === 'number' ? { windowMs: args.verify } : undefined;
      // canary: the share of players (0.1 = 10%) the new versions serve during the window.
      if (args.canary !== undefined && typeof args.canary !== 'number') throw rebindError('BAD_REQUEST', 'canary must be a share of players between 0 and 1');
      const canary = typeof args.canary === 'number' ? { canary: args.canary } : {};
      if (args.prepareMs !== undefined && !(typeof args.prepareMs === 'number' && args.prepareMs > 0 && args.prepareMs <= 600_000)) throw rebindError('BAD_REQUEST', 'prepareMs must be a deadline in milliseconds, at most 10 minutes');
      // In a fleet, the patch is the fleet's: built here, prepared on every node, committed on all or none.
      if (server.fleetPatcher) return fleetPatch(server.fleetPatcher, { ...(strings(args.modules, 'modules') ? { modules: strings(args.modules, 'modules')! } : {}), ...(verify ? { verify } : {}), ...canary }, { origin: origin(args), by, ...(typeof args.prepareMs === 'number' ? { prepareMs: args.prepareMs } : {}) }, durably, applied);
      const record = await durably(() => host.engine.patch({ ...(strings(args.modules, 'modules') ? { modules: strings(args.modules, 'modules')! } : {}), origin: origin(args), by, ...(verify ? { verify } : {}), ...canary }));
      const verification = host.engine.verification(record.id);
      // detach: answer once applied; the outcome comes later as a pushed confirm or auto-rollback record (rebind watch --verify).
      if (!verification || args.detach === true) return record;
      // Audited now: a stop during the window must not leave a live patch without its line.
      applied(record);
      return { ...record, verification: await verification };
    },
    rollback: (args, by) =>
      server.fleetPatcher
        ? durably(() => server.fleetPatcher!.rollback(typeof args.module === 'string' ? args.module : undefined, { origin: origin(args), by }))
        : durably(() => host.engine.rollback(typeof args.module === 'string' ? args.module : undefined, { origin: origin(args), by })),
    state: (args) => readState(server, args.store, args.path),
    call: async (args) => {
      const handler = args.handler;
      if (typeof handler !== 'string') throw rebindError('BAD_REQUEST', 'call needs a handler name');
      // Without --as, a client handler that reads ctx.player is refused with NEEDS_PLAYER (the dispatcher's rule).
      const player = typeof args.player === 'string' ? args.player : null;
      return durably(async () => ({ result: carried(handler, await settled(handler, host.call(handler, args.payload ?? null, { origin: 'admin', player }))) }));
    },
    drop: (args) => {
      if (typeof args.player !== 'string') throw rebindError('BAD_REQUEST', 'drop needs a player id');
      if (!server.gateway.drop(args.player)) throw rebindError('NOT_JOINED', `no connected player "${args.player}"`);
      return { dropped: args.player };
    },
    snapshot: async () => {
      if (!server.persistence) throw rebindError('PERSIST_ERROR', 'this server runs without a data folder');
      return server.persistence.snapshot();
    },
  };
}

export const READ_ONLY_ACTIONS = new Set(['status', 'history', 'series']);

