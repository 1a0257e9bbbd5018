import { rebindError } from '../errors.ts';
import type { Plan } from './activation.ts';
import type { BindingTable, ModuleVersion } from './bindings.ts';
import type { ModuleChange } from './history.ts';

// A canary: the new versions are evaluated, migrated (no: refused) and
// initialised like any patch, but bound beside the live ones, for the share
// of players whose stable hash falls under it (bindings.ts: canaryPoint).
// Calls without a player, ticks and timers stay on the live versions, and
// both versions work on the same stores, as Erlang keeps old and new code.
// At the end of the verification window the canary is promoted (one swap,
// like a patch) or, over budget or with too few calls to judge, ended (its
// versions are disposed). A rollback of one of its modules ends it at once.

export interface CanaryState {
  share: number;
  /** The plans of the canary's versions, kept for rollback once promoted. */
  plans: Plan[];
  since: string;
  windowMs: number;
}

/** Refuses a canary that cannot run: every module must be live and stay, no removals, one canary at a time. */
export function checkCanary(share: number, plans: readonly Plan[], removals: readonly string[], bindings: BindingTable, windowMs: number | undefined): void {
  if (!(share > 0 && share < 1)) throw rebindError('CANARY_REFUSED', `a canary's share must be over 0% and under 100% (both excluded), got ${share * 100}%`);
  if (!windowMs) throw rebindError('CANARY_REFUSED', 'a canary needs a verification window (--verify 60s): it is promoted or rolled back when the window ends');
  if (bindings.canary) throw rebindError('CANARY_REFUSED', `a canary is running (${[...bindings.canary.versions.keys()].join(', ')}); wait for it to be promoted or rolled back`);
  if (removals.length > 0) throw rebindError('CANARY_REFUSED', `a canary cannot remove modules (${removals.join(', ')}); patch without --canary`);
  const added = plans.filter((p) => !bindings.live.has(p.module)).map((p) => p.module);
  if (added.length > 0) throw rebindError('CANARY_REFUSED', `a canary compares new versions with live ones; ${added.join(', ')} is not live yet: patch it without --canary`);
}

/** Refuses a patch or rollback of a module while a canary of it runs (the canary decides first). */
export function refuseDuringCanary(bindings: BindingTable, modules: readonly string[]): void {
  const busy = modules.filter((m) => bindings.canary?.versions.has(m));
  if (busy.length > 0) throw rebindError('CANARY_REFUSED', `a canary of ${busy.join(', ')} is running; wait for it to be promoted or rolled back, or end it now with rebind rollback ${busy[0]}`);
}

/** The record's view of a move between two versions of each module. */
export function changesBetween(from: readonly ModuleVersion[], to: ReadonlyMap<string, ModuleVersion>): ModuleChange[] {
  return from.map((old) => {
    const next = to.get(old.module);
    return { module: old.module, change: 'updated', oldVersion: old.version, newVersion: next?.version ?? null, oldHash: old.hash, newHash: next?.hash ?? null };
  });
}

/** What `rebind status` shows while a canary runs. */
export function canaryStatus(bindings: BindingTable, state: CanaryState | undefined) {
  const canary = bindings.canary;
  if (!canary || !state) return null;
  return {
    share: canary.share,
    since: state.since,
    windowMs: state.windowMs,
    modules: [...canary.versions.values()].map((v) => {
      const live = bindings.live.get(v.module);
      return { module: v.module, canary: { version: v.version, hash: v.hash }, live: live ? { version: live.version, hash: live.hash } : null };
    }),
  };
}
