import path from 'node:path';
import { isRebindError } from '../errors.ts';
import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import type { PatchError, PatchRecord } from '../patch/history.ts';
import type { Manifest } from '../patch/live-code.ts';
import type { Decision, PrepareAnswer, ShippedPatch } from '../patch/prepared.ts';
import { shipPlan, type ShippedBuild } from '../patch/shipped.ts';
import { FleetCode } from './manifest.ts';
import { verificationDone, VERIFY_DONE_KIND, watchFleetPatch, type VerifyDoneMessage } from './patch-verify.ts';
import type { FleetNode } from './node.ts';

// Every node's side of a fleet patch: it prepares what the coordinator ships
// (the same bytes everywhere), carries out the decision, and, told nothing,
// reads the decision record or writes "abort" to it itself. At start, after
// Redis comes back, and after a commit it was not part of, it brings its live
// code to the fleet's manifest (the first node of a fleet writes its own).

export const PREPARE_KIND = 'patch.prepare';
export const DECIDE_KIND = 'patch.decide';
export const DECIDED_KIND = 'patch.decided';

export interface PrepareMessage {
  shipped: ShippedPatch;
  /** How long to hold before asking for the decision. */
  holdMs: number;
  /** This long after it got the message, a node that knows no decision writes "abort" (the coordinator decides well before). */
  abortAfterMs: number;
}

export interface DecideMessage {
  id: string;
  decision: Decision;
}

/** What a node answers once it carried out the decision. */
export interface NodeOutcome {
  node: string;
  ok: boolean;
  noop: boolean;
  modules: PatchRecord['modules'];
  error?: PatchError;
  /** From the decision reaching this node to its record: the swap (or the abort) and its history line. */
  applyMs: number;
}

const log = createLogger('fleet');
const OUTCOME_KEPT_MS = 120_000;
const SYNC_RETRY_MS = 500;

export class FleetPatchNode {
  readonly code: FleetCode;
  /** The record each prepared patch ends with, by patch id. */
  private readonly outcomes = new Map<string, Promise<PatchRecord>>();
  /** This node's record id of each fleet patch under verification (its auto-rollback or confirm names it). */
  private readonly localIds = new Map<string, number>();
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  /** Set once this node's live code matched the fleet's manifest (or seeded it). */
  syncedAt: number | undefined;

  constructor(
    readonly node: FleetNode,
    readonly host: Host,
  ) {
    this.code = new FleetCode(node);
    node.on(PREPARE_KIND, (payload, from) => this.prepare(payload as PrepareMessage, from));
    node.on(VERIFY_DONE_KIND, (payload) => verificationDone(this, payload as VerifyDoneMessage));
    node.on(DECIDE_KIND, (payload) => this.decide(payload as DecideMessage));
    node.on(DECIDED_KIND, (payload) => {
      const { id, decision } = payload as DecideMessage;
      // A node whose prepare answered too late to be asked still holds: this frees it.
      this.host.engine.decide(id, decision);
      // A commit this node was not part of (it joined or came back meanwhile): the manifest says what is live now.
      if (decision === 'commit' && !this.outcomes.has(id)) this.sync();
    });
    node.events.on('registered', () => this.sync());
    this.sync();
  }

  /** Phase one on this node; resolves with the answer, then holds until the decision. `from`: the coordinator. */
  prepare(message: PrepareMessage, from: string): Promise<PrepareAnswer> {
    const { shipped } = message;
    let done!: (record: PatchRecord) => void;
    const outcome = new Promise<PatchRecord>((resolve) => (done = resolve));
    this.outcomes.set(shipped.id, outcome);
    setTimeout(() => this.outcomes.delete(shipped.id), OUTCOME_KEPT_MS).unref();
    if (shipped.kind === 'patch' && shipped.verifyMs) {
      void outcome.then((record) => {
        if (!record.ok || record.noop) return;
        this.localIds.set(shipped.id, record.id);
        setTimeout(() => this.localIds.delete(shipped.id), shipped.verifyMs! + OUTCOME_KEPT_MS).unref();
        watchFleetPatch(this, shipped.id, record, shipped.verifyMs!, from);
      });
    }
    // An auto-rollback's record names this node's own record of the patch it rolls back.
    const local = shipped.verifies !== undefined ? this.localIds.get(shipped.verifies) : undefined;
    const verify = shipped.verify && local !== undefined ? { ...shipped.verify, patch: local } : undefined;
    const abortAfter = Date.now() + message.abortAfterMs;
    return this.host.engine.prepare(shipped, { holdMs: message.holdMs, undecided: (id) => this.undecided(id, abortAfter) }, done, verify);
  }

  /** This node's record id of fleet patch `id`, while its verification runs. */
  localRecordOf(id: string): number | undefined {
    return this.localIds.get(id);
  }

  /** Phase two on this node: resolves once the decision is carried out, with what it did. */
  async decide(message: DecideMessage): Promise<NodeOutcome | null> {
    const started = performance.now();
    this.host.engine.decide(message.id, message.decision);
    const outcome = this.outcomes.get(message.id);
    if (!outcome) return null;
    const record = await outcome;
    return { node: this.node.id, ok: record.ok, noop: record.noop, modules: record.modules, ...(record.error ? { error: record.error } : {}), applyMs: Math.round((performance.now() - started) * 1000) / 1000 };
  }

  /** The record prepared patch `id` ended with here (once the decision is carried out). */
  record(id: string): Promise<PatchRecord> | undefined {
    return this.outcomes.get(id);
  }

  /** No decision came: the record says it, or, past the deadline, this node's "abort" becomes it (unless a commit got there first). */
  private async undecided(id: string, abortAfter: number): Promise<Decision | undefined> {
    const known = await this.code.decision(id);
    if (known || Date.now() < abortAfter) return known;
    return this.code.decide(id, 'abort');
  }

  /** Brings this node's live code to the fleet's manifest, retrying while Redis is away; one run at a time. */
  sync(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      for (;;) {
        this.syncAgain = false;
        try {
          if (this.node.connected) {
            await this.syncOnce();
            if (!this.syncAgain) return;
            continue;
          }
        } catch (err) {
          log.warn(`fleet: could not load the fleet's live code yet (${isRebindError(err) ? `${err.code}: ` : ''}${(err as Error).message}); trying again`);
        }
        await new Promise((resolve) => setTimeout(resolve, SYNC_RETRY_MS).unref());
      }
    })().finally(() => (this.syncing = undefined));
  }

  /** Resolves once a sync under way (if any) is over. */
  async synced(): Promise<void> {
    await this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const engine = this.host.engine;
    const manifest = await this.code.manifest();
    const live = this.host.bindings.live;
    if (!manifest) {
      const own = engine.builds.manifest();
      const seeded = await this.code.seed(own, this.keptBuilds(own));
      if (seeded) log.info(`fleet: the fleet had no live code; this node's (${Object.keys(own.modules).length} modules) is now the fleet's manifest`);
      else return this.syncOnce();
      this.syncedAt = Date.now();
      return;
    }
    const differ = Object.values(manifest.modules).filter((entry) => live.get(entry.module)?.hash !== entry.hash).map((e) => e.module);
    const removals = [...live.keys()].filter((m) => !manifest.modules[m]);
    engine.continueVersions(manifest.lastVersion);
    if (differ.length === 0 && removals.length === 0) {
      this.syncedAt = Date.now();
      return;
    }
    const shipped: ShippedPatch = {
      id: `sync-${this.node.id}-${Date.now()}`,
      kind: 'patch',
      origin: 'start',
      by: 'fleet manifest',
      builds: await this.code.builds(manifest, differ),
      versions: Object.fromEntries(differ.map((m) => [m, manifest.modules[m]!.version])),
      removals,
    };
    const answer = await engine.prepare(shipped, { holdMs: 60_000, undecided: async () => 'commit' });
    // Prepared, this node's patch queue is held: if a fleet patch landed since the manifest was read, that read is stale.
    if (answer.ok && JSON.stringify(await this.code.manifest().catch(() => undefined)) !== JSON.stringify(manifest)) {
      engine.decide(shipped.id, 'abort');
      this.syncAgain = true;
      return;
    }
    engine.decide(shipped.id, answer.ok ? 'commit' : 'abort');
    if (answer.ok) log.info(`fleet: loaded the fleet's live code: ${differ.map((m) => `${m} v${manifest.modules[m]!.version}`).join(', ')}${removals.length ? `; removed ${removals.join(', ')}` : ''}`);
    else log.error(`FLEET CODE NOT LOADED: the fleet's live code does not start on this node (${answer.error.code}: ${answer.error.message}); it keeps its own code, and rebind status flags it`);
    this.syncedAt = Date.now();
  }

  /** Every build `manifest` names (live and kept for rollback), as bytes, for seeding the fleet's manifest. */
  private keptBuilds(manifest: Manifest): ShippedBuild[] {
    const out: ShippedBuild[] = [];
    for (const entry of Object.values(manifest.modules)) {
      for (const saved of [...entry.previous, entry]) {
        const kept = this.host.engine.builds.build(entry.module, saved.hash);
        if (kept) out.push(shipPlan(this.host.paths, { module: entry.module, file: path.resolve(this.host.paths.root, entry.file), artifact: kept.artifact, inputs: kept.inputs, ...(kept.builtAgainst ? { builtAgainst: kept.builtAgainst } : {}) }));
      }
    }
    return out;
  }
}
