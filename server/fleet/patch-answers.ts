import { isRebindError } from '../errors.ts';
import type { PatchError } from '../patch/history.ts';
import type { PrepareAnswer } from '../patch/prepared.ts';
import type { FleetNode } from './node.ts';

// The answers a fleet patch waits for, and why one did not come. A node the
// fleet reports lost while it is waited for (its heartbeat stopped: killed,
// cut off) will never answer: waiting for it to the deadline only delayed
// the abort. A silence is said as what it was (lost, not listening, Redis
// away, the deadline), never as "did not prepare in time" for all of them.

/** A prepare's result on one node: its answer, or why there is none (`prepared: null` in the report). */
export type Heard = { answer: PrepareAnswer } | { silence: PatchError };

/** For the length of one fleet patch: which nodes the fleet reported lost, and a wait that ends when one is. */
export class LostNodes {
  private readonly started = performance.now();
  private readonly lost = new Map<string, number>();
  private readonly waiting = new Map<string, Array<(atMs: number) => void>>();
  private readonly onLost = (id: string): void => {
    const atMs = performance.now() - this.started;
    this.lost.set(id, atMs);
    for (const wake of this.waiting.get(id) ?? []) wake(atMs);
    this.waiting.delete(id);
  };

  constructor(private readonly node: FleetNode) {
    node.events.on('node-lost', this.onLost);
  }

  /** Resolves, with how far into the patch it happened, when the fleet reports `id` lost (at once if it did already). */
  until(id: string): Promise<number> {
    const at = this.lost.get(id);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => this.waiting.set(id, [...(this.waiting.get(id) ?? []), resolve]));
  }

  /** The silence of a node reported lost `atMs` into the patch (the message follows "node X did not answer: "). */
  static silence(atMs: number, phase: string): PatchError {
    return { code: 'NODE_GONE', message: `reported lost by the fleet ${(atMs / 1000).toFixed(1)} s into the ${phase} (its heartbeat stopped), and not waited for any longer` };
  }

  stop(): void {
    this.node.events.off('node-lost', this.onLost);
    this.waiting.clear();
  }
}

/** What a failed request for a prepare means: a silence (no answer came, for this reason: it follows "node X did not answer: "), or the node's own error. */
export function heardFromFailure(err: unknown, prepareMs: number): Heard {
  if (isRebindError(err)) {
    if (err.code === 'FLEET_TIMEOUT') return { silence: { code: 'FLEET_TIMEOUT', message: `did not prepare within ${prepareMs} ms` } };
    if (err.code === 'NODE_GONE') return { silence: { code: 'NODE_GONE', message: 'not in the fleet when asked (nobody listened on its channel)' } };
    if (err.code === 'FLEET_UNAVAILABLE') return { silence: { code: 'FLEET_UNAVAILABLE', message: `could not be asked: ${err.message}` } };
  }
  return { answer: { ok: false, error: { code: isRebindError(err) ? err.code : 'HANDLER_ERROR', message: (err as Error).message } } };
}
