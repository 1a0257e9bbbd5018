import { createLogger } from '../log.ts';
import type { PatchRecord } from '../patch/history.ts';
import { verifyPatch, type Figures, type VerifyReport } from '../patch/verify.ts';
import type { FleetPatcher, FleetPatchResult } from './patch-coordinator.ts';
import type { FleetPatchNode } from './patch-node.ts';

// --verify and --canary across a fleet. Every node watches the new versions
// on its own calls (verify.ts) but never rolls back on its own: it reports to
// the node that ran the patch, at once when it goes over budget, else at the
// end of the window. That node decides for the fleet: one node over budget
// rolls every node back (an ordinary fleet patch, all or nothing); every node
// within budget confirms it (a canary is promoted everywhere, the fleet's
// manifest moving with it). A canary uses the same stable hash of the player
// id on every node, so a player is on the same side wherever it plays.

export const VERIFY_REPORT_KIND = 'patch.verify-report';
export const VERIFY_DONE_KIND = 'patch.verify-done';

/** Time after the window for the last reports to arrive. */
const REPORT_GRACE_MS = 5000;

export interface VerifyReportMessage {
  id: string;
  node: string;
  report: VerifyReport;
}

export interface VerifyDoneMessage {
  id: string;
  report: VerifyReport;
  canary: boolean;
}

const log = createLogger('fleet');

/** Node side: watches what fleet patch `id` made live here and reports to `coordinator`. */
export function watchFleetPatch(side: FleetPatchNode, id: string, record: PatchRecord, windowMs: number, coordinator: string): void {
  const host = side.host;
  const send = (report: VerifyReport) =>
    void side.node.request(coordinator, VERIFY_REPORT_KIND, { id, node: side.node.id, report } satisfies VerifyReportMessage, 5000).catch((err: Error) => log.warn(`fleet patch ${id}: could not report its verification to ${coordinator} (${err.message})`));
  void verifyPatch(record, { windowMs }, {
    callStats: host.dispatcher.callStats,
    hookStats: host.dispatcher.hookStats,
    liveVersion: (module) => (host.bindings.canary?.versions.get(module) ?? host.bindings.live.get(module))?.version,
    // The fleet decides; this node only says why.
    rollBack: async (_modules, report) => {
      send(report);
      return record;
    },
    confirm: (report) => send(report),
  });
}

/** Node side: the fleet's outcome of a verification this node took part in. */
export async function verificationDone(side: FleetPatchNode, message: VerifyDoneMessage): Promise<void> {
  const local = side.localRecordOf(message.id);
  if (local === undefined) return;
  const report = { ...message.report, patch: local };
  if (message.canary) await side.host.engine.finishCanary(report.outcome === 'confirmed', report);
  else if (report.outcome === 'confirmed' || report.outcome === 'superseded' || report.outcome === 'unverified') {
    const kind = report.outcome === 'confirmed' ? 'confirm' : report.outcome;
    side.host.engine.history.noop({ origin: 'verify', by: 'verify', kind, started: performance.now(), verify: report }, []);
  }
  // A rollback's own record (the fleet's auto-rollback) closes the verification otherwise.
}

/** Coordinator side: waits for every node's report on a fleet patch and decides. */
export class FleetVerifier {
  private readonly waiting = new Map<string, (message: VerifyReportMessage) => void>();
  /** Reports that came before verify() was called for their patch (a node over budget at once). */
  private readonly early = new Map<string, VerifyReportMessage[]>();

  constructor(private readonly patcher: FleetPatcher) {
    patcher.local.node.on(VERIFY_REPORT_KIND, (payload) => {
      const message = payload as VerifyReportMessage;
      const waiting = this.waiting.get(message.id);
      if (waiting) waiting(message);
      else {
        this.early.set(message.id, [...(this.early.get(message.id) ?? []), message]);
        if (this.early.size > 100) this.early.delete(this.early.keys().next().value!);
      }
      return null;
    });
  }

  async verify(result: FleetPatchResult, windowMs: number, canary: boolean): Promise<VerifyReport> {
    const id = result.fleet.id;
    const nodes = result.fleet.nodes.filter((n) => n.outcome?.ok).map((n) => n.node);
    const reports = new Map<string, VerifyReport>();
    const failed = await new Promise<VerifyReportMessage | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), windowMs + REPORT_GRACE_MS);
      this.waiting.set(id, (message) => {
        reports.set(message.node, message.report);
        if (message.report.outcome === 'rolled-back' || reports.size >= nodes.length) {
          clearTimeout(timer);
          resolve(message.report.outcome === 'rolled-back' ? message : undefined);
        }
      });
      for (const message of this.early.get(id) ?? []) this.waiting.get(id)?.(message);
      this.early.delete(id);
    });
    this.waiting.delete(id);
    const all = [...reports.values()];
    const base: VerifyReport = { patch: result.id, outcome: 'confirmed', windowMs, elapsedMs: Math.max(0, ...all.map((r) => r.elapsedMs)), modules: all[0]?.modules ?? [], new: sum(all.map((r) => r.new)), previous: sum(all.map((r) => r.previous)) };
    let report: VerifyReport;
    if (failed) {
      report = { ...base, outcome: 'rolled-back', reason: `node ${failed.node}: ${failed.report.reason ?? 'over budget'}`, new: failed.report.new, previous: failed.report.previous };
      log.event('error', `auto-rollback of fleet patch ${id}: ${report.reason}`, { patch: id, node: failed.node });
      if (!canary) {
        const rollback = await this.patcher.autoRollback(report.modules.map((m) => m.module), report, id);
        if (!rollback.ok) report = { ...report, outcome: 'failed-to-roll-back', reason: `${report.reason}; the rollback failed: ${rollback.error?.message ?? ''}` };
      }
    } else {
      const missing = nodes.filter((n) => !reports.has(n));
      // Too few calls on every node proves nothing (patch/verify.ts): unverified, and a canary is withdrawn, not promoted.
      const unseen = all.length > 0 && all.every((r) => r.outcome === 'unverified');
      if (unseen) report = { ...base, outcome: 'unverified', reason: all[0]!.reason ?? 'too few calls to judge' };
      else report = missing.length > 0 ? { ...base, reason: `no report from ${missing.join(', ')} (gone?); the others stayed within budget` } : base;
      if (canary && !unseen) await this.patcher.promoteCanary(id);
    }
    // Every node records the outcome (and a canary is promoted or ended on each), this one included.
    await this.patcher.local.node.publish('all', VERIFY_DONE_KIND, { id, report, canary } satisfies VerifyDoneMessage).catch((err: Error) => log.warn(`fleet patch ${id}: the verification's outcome could not be sent (${err.message})`));
    return report;
  }
}

function sum(figures: Figures[]): Figures {
  const calls = figures.reduce((n, f) => n + f.calls, 0);
  const errors = figures.reduce((n, f) => n + f.errors, 0);
  return { calls, errors, errorRate: calls ? Math.round((errors / calls) * 10_000) / 10_000 : 0, p99Ms: Math.max(0, ...figures.map((f) => f.p99Ms)) };
}
