import { styleText } from 'node:util';

// How the CLI shows the admin channel's answers to a person. Colour only on
// a terminal, and never when NO_COLOR is set.

type Style = Parameters<typeof styleText>[0];
const useColour = process.stdout.isTTY === true && !process.env.NO_COLOR;
export const paint = (style: Style, text: string): string => (useColour ? styleText(style, text) : text);

// The admin protocol's shapes are the server's own records; only their types cross over.
export type { PatchRecord } from '../../server/admin/protocol.ts';
import type { AdminActions, AdminStatus, PatchRecord } from '../../server/admin/protocol.ts';
import type { FleetSummary } from '../../server/fleet/patch-coordinator.ts';
import { formatFleetPatch, formatFleetStatus } from './format-fleet.ts';

const short = (hash: string | null) => (hash ? hash.slice(0, 8) : '-');
const v = (n: number | null) => (n === null ? '-' : `v${n}`);

type Verification = NonNullable<AdminActions['patch']['reply']['verification']>;

/** What a patch's verification decided, with the figures it decided on. */
function formatVerification(v: Verification): string {
  const figures = (f: Verification['new']) => `${f.calls} calls, ${f.errors} errors (${(f.errorRate * 100).toFixed(1)}%), p99 ${f.p99Ms} ms`;
  const hookFigures = (f: NonNullable<Verification['hooks']>['new']) => `${f.runs} runs, ${f.errors} errors (${(f.errorRate * 100).toFixed(1)}%)`;
  const head =
    v.outcome === 'confirmed'
      ? paint('green', `verified for ${v.elapsedMs / 1000} s: confirmed`)
      : v.outcome === 'superseded'
        ? paint('yellow', `verification ended after ${v.elapsedMs / 1000} s: ${v.reason}`)
        : v.outcome === 'unverified'
          ? paint('yellow', `UNVERIFIED after its ${v.windowMs / 1000} s window: ${v.reason}`)
          : paint('red', `ROLLED BACK after ${v.elapsedMs / 1000} s of its ${v.windowMs / 1000} s window: ${v.reason}`);
  const hooks = v.hooks ? [`  hooks new:      ${hookFigures(v.hooks.new)}`, `  hooks previous: ${hookFigures(v.hooks.previous)}`] : [];
  return [head, `  new:      ${figures(v.new)}`, `  previous: ${figures(v.previous)}`, ...hooks].join('\n');
}

type Abandoned = { windowMs: number; patch: number; abandoned: true };
const isAbandoned = (r: PatchRecord): r is PatchRecord & { verify: Abandoned } => (r.kind === 'verify-abandoned' || r.kind === 'canary-abandoned') && !!r.verify && 'abandoned' in r.verify;

/** A verification or canary a stop cut short (written at the next start): what is live now, unverified. */
function abandonedText(r: PatchRecord & { verify: Abandoned }): string {
  const changed = r.modules.filter((m) => m.change !== 'unchanged');
  const names = changed.map((m) => `${m.module} ${v(m.newVersion)}`).join(', ');
  if (r.kind === 'canary-abandoned') return `CANARY ABANDONED: the canary of patch #${r.verify.patch} (${names}) was cut short by a stop before it was promoted; the live versions serve everyone`;
  return `VERIFICATION ABANDONED: patch #${r.verify.patch} (${names}) was being verified when the server stopped; it stays live UNVERIFIED (watch it, or ${changed.map((m) => `rebind rollback ${m.module}`).join('; ')})`;
}

export function formatPatch(r: PatchRecord & { verification?: Verification; fleet?: FleetSummary }): string {
  if (r.verification) return `${formatPatch({ ...r, verification: undefined })}\n${formatVerification(r.verification)}`;
  if (r.fleet) return [formatPatch({ ...r, fleet: undefined }), ...formatFleetPatch(r.fleet, r)].join('\n');
  // A verification's outcome pushed on its own (rebind watch --verify): what it decided, then what it changed.
  if (r.verify && 'outcome' in r.verify && r.kind !== 'patch') {
    const decided = `${r.kind === 'auto-rollback' ? 'auto-rollback of patch' : 'patch'} #${r.verify.patch}: ${formatVerification(r.verify)}`;
    // A rollback, or a canary withdrawn unverified, changed the live code: what it changed follows.
    const changed = r.kind === 'auto-rollback' || r.modules.some((m) => m.change !== 'unchanged');
    return changed ? `${decided}\n${formatPatch({ ...r, kind: r.kind === 'auto-rollback' ? 'auto-rollback' : 'rollback', verify: undefined })}` : decided;
  }
  if (isAbandoned(r)) return paint('red', abandonedText(r));
  const what = r.kind === 'rollback' || r.kind === 'auto-rollback' ? r.kind : 'patch';
  if (!r.ok) {
    const e = r.error!;
    const lines = [paint('red', `${what} rejected (${e.code}); the old code keeps serving`), `  ${e.message}`];
    if (e.frame) lines.push('', e.frame);
    return lines.join('\n');
  }
  if (r.noop) return `${paint('yellow', 'nothing to do')}: the build is identical to the live code (${r.durationMs.toFixed(1)} ms)`;
  const width = Math.max(...r.modules.map((m) => m.module.length));
  const lines = [paint('green', `${what} #${r.id} applied in ${r.durationMs.toFixed(1)} ms`)];
  for (const m of r.modules) {
    const name = m.module.padEnd(width);
    if (m.change === 'unchanged') lines.push(`  ${name}  ${paint('gray', `unchanged ${v(m.oldVersion)}`)}`);
    else if (m.change === 'removed') lines.push(`  ${name}  removed (was ${v(m.oldVersion)})`);
    else lines.push(`  ${name}  ${v(m.oldVersion)} -> ${paint('bold', v(m.newVersion))}  (${short(m.oldHash)} -> ${short(m.newHash)})`);
  }
  for (const line of r.migrations) lines.push(`  migrated ${line}`);
  return lines.join('\n');
}

export function formatHistory(records: PatchRecord[]): string {
  if (records.length === 0) return 'no patches yet';
  return records
    .map((r) => {
      const abandoned = isAbandoned(r);
      const result = abandoned ? paint('red', 'CUT ') : r.ok ? (r.noop ? paint('gray', 'noop') : paint('green', 'ok  ')) : paint('red', 'FAIL');
      const changed = r.modules.filter((m) => m.change !== 'unchanged').map((m) => `${m.module} ${v(m.oldVersion)}->${v(m.newVersion)}`);
      // An auto-rollback or a confirm says why, from its verification; a patch still under one, how long it is watched.
      const why = r.verify && 'outcome' in r.verify ? ` (${r.verify.outcome}${r.verify.reason ? `: ${r.verify.reason}` : ''})` : r.kind === 'patch' && r.ok && !r.noop && r.verify ? ` (verify ${r.verify.windowMs / 1000} s${r.canary !== undefined ? `, canary ${r.canary * 100}%` : ''})` : '';
      const detail = abandoned ? paint('red', abandonedText(r)) : r.ok ? changed.join(', ') + why : `${r.error!.code}: ${r.error!.message}${why}`;
      return `#${String(r.id).padEnd(4)} ${r.at.replace('T', ' ').slice(0, 19)}  ${r.kind.padEnd(16)} ${(r.by ?? r.origin).padEnd(18)} ${result} ${r.durationMs.toFixed(1).padStart(7)} ms  ${detail}`;
    })
    .join('\n');
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts = [Math.floor(s / 86400) && `${Math.floor(s / 86400)}d`, Math.floor((s % 86400) / 3600) && `${Math.floor((s % 86400) / 3600)}h`, Math.floor((s % 3600) / 60) && `${Math.floor((s % 3600) / 60)}m`, `${s % 60}s`];
  return parts.filter(Boolean).join(' ');
}

type Status = AdminStatus;
type LastError = NonNullable<AdminStatus['modules'][number]['hooks'][number]['lastError']>;

/** `  last error: logic/x.ts:3:7 message` for a count with errors. */
function lastErrorLine(e: LastError | null | undefined): string[] {
  if (!e) return [];
  const where = e.location ? `${e.location.file}:${e.location.line}:${e.location.column} ` : '';
  return [`      ${paint('red', 'last error')} ${e.at.slice(11, 19)} ${where}${e.code}: ${e.message}`];
}

export function formatStatus(s: Status): string {
  const stall = s.tick.lastStall ? `; last stall ${s.tick.lastStall.ms} ms (${s.tick.lastStall.cause})` : '';
  const delay = s.tick.loopDelayP99Ms !== undefined ? `; event loop delay p99 ${s.tick.loopDelayP99Ms} ms, max ${s.tick.loopDelayMaxMs ?? 0} ms` : '';
  const lines = [
    `${paint('bold', 'rebind')} up ${duration(s.uptimeMs)}, ${s.players.connected} player(s) connected (${s.players.sessions} session(s)), ${s.memory.rssMb} MB RSS`,
    `tick ${s.tick.hz} Hz: avg ${s.tick.avgMs.toFixed(2)} ms, max ${s.tick.maxMs.toFixed(2)} ms, ${s.tick.overruns} overrun(s) in ${s.tick.ticks} ticks${s.tick.late ? ` (${s.tick.late} late)` : ''}${stall}${delay}; ${s.pendingTimers} timer(s) pending`,
  ];
  if (s.busy?.last) lines.push(paint('yellow', `${s.busy.count} run(s) of logic held the event loop over 250 ms; last: ${s.busy.last.name} ${s.busy.last.ms} ms`));
  for (const skipped of s.skippedAtStart ?? []) lines.push(paint('red', `module ${skipped.module} was left out at start: ${skipped.code}: ${skipped.message}`));
  if (s.canary) {
    for (const m of s.canary.modules) {
      lines.push(paint('yellow', `canary: ${m.module} v${m.canary.version} ${m.canary.hash.slice(0, 8)} serves ${Math.round(s.canary.share * 1000) / 10}% of players, v${m.live?.version ?? '-'} ${m.live?.hash.slice(0, 8) ?? ''} the rest (since ${s.canary.since.slice(11, 19)}, window ${s.canary.windowMs / 1000} s)`));
    }
  }
  // Where the live code (which a restart comes back on) differs from logic/ on disk.
  for (const drift of s.liveCode?.drift ?? []) lines.push(paint('yellow', drift));
  if (s.liveCode?.error) lines.push(paint('red', `the live code could not be saved: ${s.liveCode.error}`));
  lines.push('', paint('bold', 'modules'));
  const width = Math.max(0, ...s.modules.map((m) => m.name.length));
  for (const m of s.modules) {
    lines.push(`  ${m.name.padEnd(width)}  v${String(m.version).padEnd(3)} ${m.hash.slice(0, 8)}  ${m.file}`);
    for (const h of m.hooks ?? []) {
      const errors = h.errors > 0 ? paint('red', `, ${h.errors} error(s)`) : '';
      lines.push(`    ${h.name} ${paint('gray', '(hook)')}: ${h.calls} call(s)${errors}`, ...lastErrorLine(h.lastError));
    }
    for (const h of m.handlers) {
      const errors = h.errors > 0 ? paint('red', `, ${h.errors} error(s)`) : '';
      lines.push(`    ${h.name}${h.public ? paint('cyan', ' (client)') : ''}: ${h.calls} call(s)${errors}`, ...lastErrorLine(h.lastError));
    }
  }
  lines.push('', `${paint('bold', 'stores')}  ${s.stores.map((st) => `${st.name} (${st.kind} v${st.version})`).join(', ')}`);
  if (s.persistence) lines.push(`${paint('bold', 'data')}    transaction ${s.persistence.seq}, fsync ${s.persistence.mode}, ${s.persistence.journal} ${s.persistence.journalBytes} bytes`);
  if (s.lastPatch) lines.push(`${paint('bold', 'last patch')}  ${formatHistory([s.lastPatch])}`);
  if (s.fleet) lines.push(...formatFleetStatus(s.fleet));
  return lines.join('\n');
}

/** The exit code of `rebind status`: 0 the whole answer, 3 a partial one (the fleet's Redis is down: this node only). */
export function statusExitCode(s: AdminStatus): number {
  return s.fleet?.redis && !s.fleet.redis.up ? 3 : 0;
}

/**
 * The exit code of `rebind patch`: 0 applied (and confirmed, or superseded), 1 refused or rolled back by its
 * verification, 3 applied but unverified (its window saw too few calls; a canary is then withdrawn).
 */
export function patchExitCode(r: PatchRecord & { verification?: Verification }): number {
  if (!r.ok) return 1;
  const outcome = r.verification?.outcome;
  if (outcome === 'unverified') return 3;
  return outcome === undefined || outcome === 'confirmed' || outcome === 'superseded' ? 0 : 1;
}
