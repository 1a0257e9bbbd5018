import type { HostLogger } from '../log.ts';
import { monoNow } from '../host-globals.ts';
import type { History, PatchRecord } from './history.ts';

// What an earlier run's patch history says at a start: which version numbers
// it used (never to be used again), and which verifications or canaries a stop
// cut short.

/**
 * A verification or a canary that a stop cut short (its patch has no confirm, auto-rollback or abandoned record) is
 * closed with a record and a loud warning: nothing is verifying that code any more.
 */
export function closeAbandoned(records: readonly PatchRecord[], history: History, log: HostLogger): void {
  const closed = new Set<number>();
  for (const r of records) if (r.verify && 'patch' in r.verify) closed.add(r.verify.patch);
  for (const r of records) {
    if (r.kind !== 'patch' || !r.ok || r.noop || !r.verify || 'patch' in r.verify || closed.has(r.id)) continue;
    const canary = r.canary !== undefined;
    const changed = r.modules.filter((m) => m.change !== 'unchanged');
    const names = changed.map((m) => `${m.module} v${m.newVersion ?? '-'}`).join(', ');
    history.noop({ origin: 'start', kind: canary ? 'canary-abandoned' : 'verify-abandoned', started: monoNow(), verify: { windowMs: r.verify.windowMs, patch: r.id, abandoned: true } }, changed);
    if (canary) {
      log.error(`CANARY ABANDONED: the canary of patch #${r.id} (${names}, ${Math.round(r.canary! * 100)}% of players) was cut short by a stop before it was promoted or rolled back; it is closed, the saved live code is served; patch again to run it again`);
    } else {
      log.error(`VERIFICATION ABANDONED: patch #${r.id} (${names}) was still being verified when the server stopped; it stays live UNVERIFIED. Watch it, or roll it back: ${changed.map((m) => `rebind rollback ${m.module}`).join('; ')}`);
    }
  }
}

/** The highest version number each module has had in `records`. */
export function versionsUsed(records: readonly PatchRecord[]): Record<string, number> {
  const last: Record<string, number> = {};
  for (const record of records) {
    for (const m of record.modules ?? []) {
      for (const v of [m.oldVersion, m.newVersion]) if (typeof v === 'number' && Number.isInteger(v) && v > (last[m.module] ?? 0)) last[m.module] = v;
    }
  }
  return last;
}
