import { randomBytes } from 'node:crypto';
import { isRebindError, rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { monoNow } from '../host-globals.ts';
import type { PatchRequest } from '../patch/engine.ts';
import type { Origin, PatchError, PatchRecord } from '../patch/history.ts';
import type { Decision, PrepareAnswer, ShippedPatch } from '../patch/prepared.ts';
import { shipPlan, type ShippedBuild } from '../patch/shipped.ts';
import { nextManifest } from './manifest.ts';
import { FleetVerifier } from './patch-verify.ts';
import type { VerifyReport } from '../patch/verify.ts';
import { heardFromFailure, LostNodes, type Heard } from './patch-answers.ts';
import { DECIDE_KIND, DECIDED_KIND, PREPARE_KIND, type FleetPatchNode, type NodeOutcome, type PrepareMessage } from './patch-node.ts';

// A patch of the whole fleet, all or nothing, run by the node that was asked:
// it builds once, ships the bytes to every live node (itself included) and asks
// each to prepare; only if every one prepared within the deadline does it
// write "commit" (with the fleet's new manifest, in one step) and tell every
// node to swap. Any refusal, any silence: "abort", and no node changes; the
// answer names a refusal before a silence (the refusal says what to fix).

/** How long every node has to prepare (evaluate, migrate, init) before the patch is aborted. */
export const DEFAULT_PREPARE_MS = 10_000;
/** How long a node may take to carry out the decision before the answer says it did not confirm. */
const COMMIT_WAIT_MS = 10_000;
/** A node that heard nothing this long after the prepare deadline asks the decision record. */
const HOLD_MARGIN_MS = 2_000;
/** ...and, finding none, writes "abort" itself this long after it. */
const ABORT_MARGIN_MS = 5_000;

export interface NodeReport {
  node: string;
  /** Whether it prepared; null if it did not answer. */
  prepared: boolean | null;
  /** Why it refused; for a node that did not answer, why no answer came (NODE_GONE: reported lost, FLEET_TIMEOUT, FLEET_UNAVAILABLE). */
  error?: PatchError;
  /** What it did with the decision (absent if it did not say in time). */
  outcome?: NodeOutcome;
}

export interface FleetSummary {
  id: string;
  decision: Decision;
  nodes: NodeReport[];
  /** Milliseconds: building, preparing on every node, committing on every node, all of it. */
  timings: { buildMs: number; prepareMs: number; commitMs: number; totalMs: number };
}

/** The coordinator's own record of the patch, with the fleet's view; a refusal names the node. */
export type FleetPatchResult = PatchRecord & { error?: PatchError & { node?: string }; fleet: FleetSummary };

export interface FleetPatchOptions {
  origin: Origin;
  by?: string;
  prepareMs?: number;
}

/** What a run ships besides the builds. */
interface RunExtras {
  verifyMs?: number;
  canary?: number;
  verify?: VerifyReport;
  verifies?: string;
}

const log = createLogger('fleet');

export class FleetPatcher {
  readonly verifier: FleetVerifier;
  /** Canaries running on the fleet, by patch id: promoted, they become the fleet's manifest. */
  private readonly canaries = new Map<string, ShippedPatch>();

  constructor(readonly local: FleetPatchNode) {
    this.verifier = new FleetVerifier(this);
  }

  private get engine() {
    return this.local.host.engine;
  }

  /** Builds `request` here and patches every live node with it. */
  async patch(request: PatchRequest, options: FleetPatchOptions): Promise<FleetPatchResult> {
    const extras = { ...(request.verify ? { verifyMs: request.verify.windowMs } : {}), ...(request.canary !== undefined ? { canary: request.canary } : {}) };
    return this.run('patch', options, extras, async () => {
      const planned = await this.engine.plan(request);
      return { builds: planned.plans.map((plan) => shipPlan(this.local.host.paths, plan, true)), removals: planned.removals };
    });
  }

  /**
   * A save under --watch on a node of a fleet patches the fleet. Never throws (a watcher has nobody to answer): a
   * refusal, FLEET_BUSY or Redis away is a failed record. With `verify`, the fleet's verdict follows in the background.
   */
  async watchPatch(request: PatchRequest): Promise<PatchRecord> {
    try {
      const result = await this.patch(request, { origin: 'watch' });
      if (request.verify && result.ok && !result.noop) {
        void this.verifier.verify(result, request.verify.windowMs, false).catch((err: Error) => log.error(`fleet patch ${result.fleet.id}: its verification failed: ${err.message}`));
      }
      return result;
    } catch (err) {
      return this.engine.history.fail({ origin: 'watch', kind: 'patch', started: monoNow() }, [], err);
    }
  }

  /** The fleet's verification of patch `verifies` went over budget: every node goes back to the previous build of `modules`. */
  autoRollback(modules: string[], report: VerifyReport, verifies: string): Promise<FleetPatchResult> {
    return this.run('auto-rollback', { origin: 'verify', by: 'verify' }, { verify: report, verifies }, async () => {
      const manifest = await this.local.code.manifest();
      if (!manifest) throw rebindError('NO_ROLLBACK', 'the fleet has no live code recorded yet: nothing to roll back');
      return { builds: await this.local.code.previousBuilds(manifest, modules), removals: [] };
    });
  }

  /** The canary of fleet patch `id` stayed within budget on every node: its builds become the fleet's manifest. */
  async promoteCanary(id: string): Promise<void> {
    const shipped = this.canaries.get(id);
    this.canaries.delete(id);
    if (!shipped) return;
    // Under the fleet's patch lock, so that a patch under way does not write its manifest over this one.
    const code = this.local.code;
    const lock = `${this.local.node.id}-${Date.now().toString(36)}-promote`;
    const until = Date.now() + DEFAULT_PREPARE_MS + COMMIT_WAIT_MS;
    while (!(await code.lock(lock, 10_000))) {
      if (Date.now() > until) throw rebindError('FLEET_BUSY', `the canary of ${id} could not be recorded as the fleet's code: another fleet patch held the lock`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    try {
      const base = (await code.manifest()) ?? this.engine.builds.manifest();
      await code.setManifest(nextManifest(base, shipped));
    } finally {
      await code.unlock(lock).catch(() => undefined);
    }
  }

  /** Rolls `module` (default: the modules the last patch changed) back to its previous build in the fleet's manifest, on every node. */
  async rollback(module: string | undefined, options: FleetPatchOptions): Promise<FleetPatchResult> {
    return this.run('rollback', options, {}, async () => {
      const manifest = await this.local.code.manifest();
      if (!manifest) throw rebindError('NO_ROLLBACK', 'the fleet has no live code recorded yet: nothing to roll back');
      const targets = module ? [module] : this.engine.history.lastChangedModules();
      if (targets.length === 0) throw rebindError('NO_ROLLBACK', 'nothing to roll back: no patch has changed a module yet');
      return { builds: await this.local.code.previousBuilds(manifest, targets), removals: [] };
    });
  }

  private async run(kind: ShippedPatch['kind'], options: FleetPatchOptions, extras: RunExtras, build: () => Promise<{ builds: ShippedBuild[]; removals: string[] }>): Promise<FleetPatchResult> {
    const started = monoNow();
    const id = `${this.local.node.id}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const prepareMs = options.prepareMs ?? DEFAULT_PREPARE_MS;
    const meta = { origin: options.origin, by: options.by, kind, started, ...(extras.verify ? { verify: extras.verify } : {}) };
    const code = this.local.code;
    await this.lock(id, prepareMs + COMMIT_WAIT_MS + 30_000);
    const lost = new LostNodes(this.local.node);
    const summary: FleetSummary = { id, decision: 'abort', nodes: [], timings: { buildMs: 0, prepareMs: 0, commitMs: 0, totalMs: 0 } };
    const finish = (record: PatchRecord, error?: FleetPatchResult['error']): FleetPatchResult => {
      summary.timings.totalMs = round(monoNow() - started);
      return { ...record, ...(error ? { error } : {}), fleet: summary };
    };
    try {
      let shipped: ShippedPatch;
      let base;
      let nodes: Set<string>;
      try {
        // Redis's part runs beside the build: what the fleet runs now and who is live (each a round trip).
        const [built, fleetCode, live] = await Promise.all([build(), code.manifest(), this.local.node.liveNodes()]);
        const { builds, removals } = built;
        if (builds.length === 0 && removals.length === 0) return finish(this.engine.history.noop(meta, []));
        base = fleetCode ?? this.engine.builds.manifest();
        const versions = Object.fromEntries(builds.map((b) => [b.module, Math.max(base!.lastVersion[b.module] ?? 0, this.engine.nextVersion(b.module) - 1) + 1]));
        shipped = { id, kind, origin: options.origin, ...(options.by ? { by: options.by } : {}), builds, versions, removals, ...extras };
        nodes = new Set(live.map((n) => n.id));
      } catch (err) {
        return finish(this.engine.history.fail(meta, [], err));
      }
      summary.timings.buildMs = round(monoNow() - started);
      // The builds are in Redis before any node may commit them (the new manifest names them); the nodes get them in the message.
      const saved = code.saveBuilds(shipped.builds);
      saved.catch(() => undefined);
      nodes.add(this.local.node.id);
      const message: PrepareMessage = { shipped, holdMs: prepareMs + HOLD_MARGIN_MS, abortAfterMs: prepareMs + ABORT_MARGIN_MS };
      const prepareStarted = monoNow();
      const heard = await this.askAll([...nodes], message, prepareMs, saved, lost);
      summary.timings.prepareMs = round(monoNow() - prepareStarted);
      summary.nodes = heard.map(({ node, heard: h }) => ('answer' in h ? { node, prepared: h.answer.ok, ...(h.answer.ok ? {} : { error: h.answer.error }) } : { node, prepared: null, error: h.silence }));
      for (const n of summary.nodes) if (n.prepared === null) log.warn(`fleet patch ${id}: node ${n.node} did not answer: ${n.error!.message}`);
      // A refusal says what to fix; a silence only that a node is away.
      let refused = summary.nodes.find((n) => n.prepared === false) ?? summary.nodes.find((n) => n.prepared === null);
      try {
        await saved;
      } catch (err) {
        // Without its builds in Redis the fleet's manifest would name code nobody can load: abort.
        refused ??= { node: this.local.node.id, prepared: false, error: { code: isRebindError(err) ? err.code : 'FLEET_UNAVAILABLE', message: `the builds could not be stored in Redis: ${(err as Error).message}` } };
      }
      const wanted: Decision = refused ? 'abort' : 'commit';

      const commitStarted = monoNow();
      let decision: Decision;
      try {
        // A canary changes the fleet's manifest only once it is promoted.
        const next = wanted === 'commit' && shipped.canary === undefined ? nextManifest(base, shipped) : undefined;
        decision = await code.decide(id, wanted, next);
        if (decision === 'commit' && next) void code.prune(base, next).catch((err: Error) => log.warn(`fleet patch ${id}: old builds could not be removed from Redis (${err.message})`));
        if (decision === 'commit' && shipped.canary !== undefined) this.canaries.set(id, shipped);
      } catch (err) {
        // Unknown to the nodes too: each asks the record after its hold and, finding nothing, writes "abort".
        log.error(`fleet patch ${id}: the decision could not be confirmed (${(err as Error).message}); the prepared nodes follow the decision record`);
        // Whether Redis took the write is unknown (a timeout may come after it did): the record decides, the same for every node.
        throw rebindError('FLEET_UNAVAILABLE', `fleet patch ${id}: its decision (${wanted}) could not be confirmed in Redis (${(err as Error).message}); every node that prepared it follows the decision record, and writes "abort" there itself if none is there ${Math.round((prepareMs + ABORT_MARGIN_MS) / 1000)} s after the prepare: all nodes end alike; rebind status shows which code they run`, { cause: err });
      }
      summary.decision = decision;
      const outcomes = await Promise.all(summary.nodes.filter((n) => n.prepared !== null).map(async ({ node }) => ({ node, outcome: await this.tell(node, { id, decision }, lost) })));
      summary.timings.commitMs = round(monoNow() - commitStarted);
      for (const { node, outcome } of outcomes) {
        const report = summary.nodes.find((n) => n.node === node)!;
        if (outcome) report.outcome = outcome;
      }
      void this.local.node.publish('all', DECIDED_KIND, { id, decision }).catch(() => undefined);
      const record = (await this.local.record(id)) ?? this.engine.history.fail(meta, [], rebindError('FLEET_ABORTED', `fleet patch ${id}: this node did not prepare it`));
      log.info(`fleet patch ${id}: ${decision} on ${nodes.size} node(s) in ${round(monoNow() - started)} ms${refused ? ` (node ${refused.node} ${refused.prepared === null ? 'did not answer' : 'refused'}: ${refused.error?.code})` : ''}`);
      if (!refused) return finish(record);
      const why = refused.error ?? { code: 'FLEET_TIMEOUT', message: `did not prepare within ${prepareMs} ms` };
      return finish(record, { ...why, node: refused.node, message: `node ${refused.node} ${refused.prepared === null ? 'did not answer' : 'refused'}: ${why.message}; the patch was not applied on any node` });
    } finally {
      lost.stop();
      await code.unlock(id).catch(() => undefined);
    }
  }

  /**
   * Takes the fleet's patch lock for `id`, or FLEET_BUSY. A lock whose holder (the node that ran that patch) is no
   * longer live is taken over: its prepared nodes abort on their own, and the fleet need not wait out the lock.
   */
  private async lock(id: string, ms: number): Promise<void> {
    const code = this.local.code;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await code.lock(id, ms)) return;
      const holder = await code.lockHolder();
      if (holder === null) continue;
      const live = new Set((await this.local.node.liveNodes()).map((n) => n.id));
      const holderNode = holder.split('-').slice(0, -2).join('-');
      if (live.has(holderNode) || holderNode === this.local.node.id) throw rebindError('FLEET_BUSY', `another fleet patch (${holder}) is under way; try again when it is done`);
      log.warn(`fleet patch ${id}: the lock of patch ${holder} is taken over, its node ${holderNode} is gone`);
      await code.unlock(holder);
    }
    throw rebindError('FLEET_BUSY', 'another fleet patch took the lock meanwhile; try again when it is done');
  }

  /**
   * Phase one on every node, in the order of `nodes`. The other nodes are asked first, and this node prepares only once
   * Redis has acknowledged those messages and the builds: its own prepare may keep the event loop busy for seconds
   * (an init up to its time limit), and a PUBLISH whose reply waited behind it timed out although Redis had delivered
   * it, which listed nodes that answered as silent.
   */
  private async askAll(nodes: string[], message: PrepareMessage, prepareMs: number, saved: Promise<void>, lost: LostNodes): Promise<Array<{ node: string; heard: Heard }>> {
    const self = this.local.node.id;
    const remote = new Map(nodes.filter((n) => n !== self).map((node) => [node, this.ask(node, message, prepareMs, lost)]));
    // Replies come in order on the command connection: once PING's is in, every PUBLISH before it has its own.
    await Promise.allSettled([saved, this.local.node.redis.run((r) => r.ping())]);
    const own: Promise<Heard> = this.local.prepare(message, self).then((answer) => ({ answer }));
    return Promise.all(nodes.map(async (node) => ({ node, heard: await (node === self ? own : remote.get(node)!) })));
  }

  /** Phase one on another node: its answer, or why none came (the deadline, or the fleet reported it lost first). */
  private ask(node: string, message: PrepareMessage, prepareMs: number, lost: LostNodes): Promise<Heard> {
    const asked = this.local.node.request(node, PREPARE_KIND, message, prepareMs).then(
      (answer): Heard => ({ answer: answer as PrepareAnswer }),
      (err: unknown) => heardFromFailure(err, prepareMs),
    );
    return Promise.race([asked, lost.until(node).then((atMs): Heard => ({ silence: LostNodes.silence(atMs, 'prepare') }))]);
  }

  /** Phase two on one node; undefined if it did not say in time what it did. */
  private async tell(node: string, message: { id: string; decision: Decision }, lost: LostNodes): Promise<NodeOutcome | undefined> {
    try {
      if (node === this.local.node.id) return (await this.local.decide(message)) ?? undefined;
      const told = this.local.node.request(node, DECIDE_KIND, message, COMMIT_WAIT_MS) as Promise<NodeOutcome | null>;
      // A node lost meanwhile will not say: it learns the decision from the record when it comes back.
      const gone = lost.until(node).then((atMs) => Promise.reject(new Error(LostNodes.silence(atMs, 'patch').message)));
      return (await Promise.race([told, gone])) ?? undefined;
    } catch (err) {
      log.warn(`fleet patch ${message.id}: node ${node} did not confirm the ${message.decision} (${(err as Error).message}); it learns it from the decision record`);
      return undefined;
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
