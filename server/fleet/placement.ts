import type { PlaceCtx, PlaceRequest } from '../api.ts';
import { isRebindError } from '../errors.ts';
import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import type { ModuleVersion } from '../patch/bindings.ts';
import { noteRun } from '../patch/busy.ts';
import { ErrorThrottle } from '../patch/error-throttle.ts';
import { TimeLimitExceeded, withTimeLimit } from '../patch/time-limit.ts';
import { withoutWrites } from '../store/transaction.ts';
import type { NodeRecord } from './node.ts';

// Placement by logic: the session module's `place` hook, looked up by name at
// every placement (so a patch of it decides the next new room), chooses the
// node of a room no node holds yet. It runs inside the joining handler, so it
// must be quick and must only look: it runs under a time limit and where
// store writes are refused, with a ctx that can do nothing but log. Any answer
// that is not the id of a live node is logged (at most once per 5 s per kind)
// and placement falls back to load: a bad hook never fails a join and never
// sends a room to a node that is gone.

const log = createLogger('fleet');
/**
 * Longer than this and the hook is stopped. The limit is wall-clock (vm's timeout), so it guards against an endless
 * loop, not a slow hook: at 50 ms a hook that only logged or sorted three ids was stopped on a busy machine (the
 * process descheduled, a GC pause, a blocking write of its log line) and its room silently placed by load. Every
 * player of the node waits while it runs, so it stays well under the 2 s of a patch's init.
 */
export const PLACE_TIME_LIMIT_MS = 500;
/**
 * A hook version stopped at its limit this many times in a row is not called again: one that always loops would
 * otherwise stall every player of the node for the whole limit at each new room, for as long as it is live. A patch
 * of the session module (a new version) is called again.
 */
export const PLACE_OVERRUNS_TO_STOP = 2;

export class Placement {
  private readonly throttle = new ErrorThrottle();
  /** The session module's logger, made once per module name (the hook's ctx.log). */
  private readonly loggers = new Map<string, PlaceCtx['log']>();
  /** Per live version of the session module: its hook's overruns in a row (Infinity once it is no longer called). */
  private readonly overruns = new WeakMap<ModuleVersion, number>();

  constructor(private readonly host: Host) {}

  /** The hook's name: `<session module>.place`. */
  get hook(): string {
    return `${this.host.dispatcher.sessionModule}.place`;
  }

  /** The node the hook chose among `nodes` (the live ones), or undefined: no hook, no answer, or a bad one (logged). */
  choose(room: string, player: string, nodes: NodeRecord[], here: string): string | undefined {
    const binding = this.host.bindings.resolveFor(this.hook, player);
    if (!binding) return undefined;
    const overran = this.overruns.get(binding.module) ?? 0;
    if (overran >= PLACE_OVERRUNS_TO_STOP) return undefined;
    const request: PlaceRequest = { room, player, nodes: nodes.map((n) => ({ id: n.id, players: n.load.players, rooms: n.load.rooms, here: n.id === here })) };
    const module = binding.module.module;
    let logger = this.loggers.get(module);
    if (!logger) this.loggers.set(module, (logger = createLogger(module)));
    const ctx: PlaceCtx = { player, module, log: logger };
    let answer: unknown;
    const began = performance.now();
    try {
      answer = withoutWrites(`the placement hook ${this.hook}`, () => withTimeLimit(PLACE_TIME_LIMIT_MS, () => binding.fn(ctx as never, request)));
      this.overruns.delete(binding.module);
    } catch (err) {
      if (err instanceof TimeLimitExceeded) return this.overran(binding.module, overran + 1, room, performance.now() - began);
      this.overruns.delete(binding.module);
      const why =
        isRebindError(err) && err.code === 'LOGIC_FORBIDDEN'
            ? 'tried to write to a store: place only chooses a node (write in the handler that joins the room instead)'
            : `threw: ${err instanceof Error ? err.message : String(err)}`;
      return this.refuse(`threw:${why}`, `${this.hook} ${why}`, room);
    }
    if (answer === undefined || answer === null) return undefined;
    if (answer instanceof Promise) {
      answer.catch(() => undefined);
      return this.refuse('async', `${this.hook} returned a promise: placement is decided at once, return a node id (a string)`, room);
    }
    if (typeof answer !== 'string') return this.refuse('type', `${this.hook} returned ${typeof answer}, not a node id (a string) or nothing`, room);
    if (!nodes.some((n) => n.id === answer)) return this.refuse(`unknown:${answer}`, `${this.hook} chose node "${answer}", which is not a live node of the fleet (live: ${nodes.map((n) => n.id).sort().join(', ')})`, room);
    return answer;
  }

  /**
   * The hook was stopped at its limit. It ran inside the joining handler, whose name the busy watchdog gives the
   * stall: its own line names the hook. The PLACE_OVERRUNS_TO_STOP-th time in a row, this version is not called again.
   */
  private overran(version: ModuleVersion, times: number, room: string, ms: number): undefined {
    noteRun(this.hook, Math.round(ms));
    this.overruns.set(version, times);
    const why = `ran over its ${PLACE_TIME_LIMIT_MS} ms limit and was stopped (an endless loop?)`;
    if (times < PLACE_OVERRUNS_TO_STOP) return this.refuse(`threw:${why}`, `${this.hook} ${why}`, room);
    log.error(
      `PLACEMENT HOOK STOPPED: ${this.hook} (${version.module} v${version.version} ${version.hash.slice(0, 8)}) ${why} ${times} times in a row, each time stalling every player of this node; it is not called again until ${version.module} is patched, and new rooms are placed by load meanwhile (room "${room}" too)`,
    );
    return undefined;
  }

  /** A placement the hook chose for a node found gone as the player was sent there: said, then load decides. */
  gone(room: string, node: string): void {
    this.refuse(`gone:${node}`, `${this.hook} chose node ${node} for room "${room}", and that node stopped answering`, room);
  }

  private refuse(kind: string, why: string, room: string): undefined {
    const { log: now, leftOut } = this.throttle.admit(kind);
    if (now) log.error(`PLACEMENT REFUSED: ${why}; room "${room}" is placed by load instead${leftOut > 0 ? ` (${leftOut} more like it since the last line)` : ''}`);
    return undefined;
  }
}
