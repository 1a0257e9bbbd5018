import { createLogger } from '../log.ts';
import { hostSetTimeout } from '../host-globals.ts';
import type { ModuleChange, Origin, PatchError } from './history.ts';
import type { ShippedBuild } from './shipped.ts';
import type { VerifyReport } from './verify.ts';

// The two phases of a patch that must land on several processes or none.
// prepare: the builds are evaluated, checked, migrated and initialised in a
// transaction that is thrown away (activation.ts, trial), which fails exactly
// as the real activation would on this node's data. The node then holds its
// patch queue (no other patch can slip in between) until it hears the
// decision: commit runs the activation for real, from the same bytes, in one
// real transaction; abort drops it. A node that hears nothing within its hold
// asks whoever keeps the decision (the fleet's Redis) and, told nothing there
// either, keeps asking for a while, then aborts: it never stays prepared forever.

export type Decision = 'commit' | 'abort';

/** A patch as a fleet ships it: the bytes of every build and the version each goes live as, the same on every node. */
export interface ShippedPatch {
  id: string;
  /** auto-rollback: the fleet's verification of a patch went over budget on some node. */
  kind: 'patch' | 'rollback' | 'auto-rollback';
  origin: Origin;
  by?: string;
  builds: ShippedBuild[];
  versions: Record<string, number>;
  removals: string[];
  /** A canary's share of players (the same hash split on every node). */
  canary?: number;
  /** The verification window of the patch (the fleet decides on a rollback, see server/fleet/patch-verify.ts). */
  verifyMs?: number;
  /** Of an auto-rollback: the verification's report (each node's record names its own patch record in it). */
  verify?: VerifyReport;
  /** Of an auto-rollback: the id of the fleet patch whose verification decided it. */
  verifies?: string;
}

export type PrepareAnswer = { ok: true; changes: ModuleChange[] } | { ok: false; error: PatchError };

export interface HoldOptions {
  /** How long to wait for the decision before asking for it. */
  holdMs: number;
  /** Finds out the decision on its own (the fleet's decision record); undefined: not known yet. */
  undecided(id: string): Promise<Decision | undefined>;
  /** After this long without any decision, abort. */
  giveUpMs?: number;
}

const ASK_EVERY_MS = 1000;
const GIVE_UP_MS = 60_000;
const EARLY_KEPT = 100;

export class PreparedPatches {
  private readonly waiting = new Map<string, (decision: Decision) => void>();
  /** Decisions that came before (or without) a prepare: a late prepare must not wait for a decision already made. */
  private readonly early = new Map<string, Decision>();
  private readonly log = createLogger('patch');

  get pending(): string[] {
    return [...this.waiting.keys()];
  }

  /** Resolves with the decision about prepared patch `id`. */
  wait(id: string, options: HoldOptions): Promise<Decision> {
    const known = this.early.get(id);
    if (known) return Promise.resolve(known);
    return new Promise<Decision>((resolve) => {
      const since = Date.now();
      let done = false;
      const settle = (decision: Decision) => {
        if (done) return;
        done = true;
        this.waiting.delete(id);
        resolve(decision);
      };
      this.waiting.set(id, settle);
      const ask = async () => {
        if (done) return;
        let decision: Decision | undefined;
        try {
          decision = await options.undecided(id);
        } catch (err) {
          this.log.warn(`prepared patch ${id}: the decision could not be asked for (${(err as Error).message}); asking again`);
        }
        if (decision) {
          this.log.warn(`prepared patch ${id}: no decision came within ${options.holdMs} ms; the decision record says ${decision}`);
          return settle(decision);
        }
        if (Date.now() - since >= (options.giveUpMs ?? GIVE_UP_MS)) {
          this.log.error(`PREPARED PATCH ${id} ABORTED: no decision could be learned for ${Math.round((Date.now() - since) / 1000)} s; this node keeps its code (rebind status flags it if the fleet went on)`);
          return settle('abort');
        }
        hostSetTimeout(() => void ask(), ASK_EVERY_MS).unref();
      };
      hostSetTimeout(() => void ask(), options.holdMs).unref();
    });
  }

  /** Delivers a decision; returns whether a prepared patch was waiting for it. */
  decide(id: string, decision: Decision): boolean {
    const settle = this.waiting.get(id);
    if (settle) {
      settle(decision);
      return true;
    }
    this.early.set(id, decision);
    if (this.early.size > EARLY_KEPT) this.early.delete(this.early.keys().next().value!);
    return false;
  }
}
