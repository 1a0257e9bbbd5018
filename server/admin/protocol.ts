// The admin protocol, in one place for the server, the CLI and the
// dashboard: what each action answers, and the push the server sends after
// every patch. Frames are the game protocol's, in JSON (see
// client/requests.ts for matching replies to requests). Types only: the
// dashboard bundles this file and gets nothing from the server's code.
import type { PatchRecord } from '../patch/history.ts';
import type { VerifyReport } from '../patch/verify.ts';
import type { FleetSummary } from '../fleet/patch-coordinator.ts';
import type { FleetStatus } from '../fleet/patch-status.ts';
import type { SeriesPoint } from '../metrics/series.ts';
import type { GameServer } from '../server.ts';
import type { Persistence } from '../store/persistence.ts';

export type { PatchRecord } from '../patch/history.ts';

/** `rebind status`: modules, handlers and hooks, players, tick, persistence, memory; in a fleet, every node (fleet/patch-status.ts). */
export type AdminStatus = ReturnType<GameServer['status']> & { fleet?: FleetStatus };

export type SnapshotReply = Awaited<ReturnType<Persistence['snapshot']>>;

/** Each action's arguments and answer. */
export interface AdminActions {
  status: { args: Record<string, never>; reply: AdminStatus };
  /** The dashboard's charts: a point per second or so, per module version (metrics/series.ts). */
  series: { args: Record<string, never>; reply: SeriesPoint[] };
  history: { args: { n?: number }; reply: PatchRecord[] };
  /**
   * `verify`: a window in ms (patch/verify-window.ts); the reply then comes when the verification ends, with its outcome, or
   * with `detach`, once the patch is applied (the outcome is then only pushed, as a confirm or auto-rollback record).
   * `canary`: a share of players (0.1) for that window.
   * In a fleet, the patch is the fleet's: `prepareMs` is every node's deadline to prepare, and the reply says what each node did (`fleet`).
   */
  patch: { args: { modules?: string[]; origin?: 'cli' | 'dashboard'; verify?: number; canary?: number; detach?: boolean; prepareMs?: number }; reply: PatchRecord & { verification?: VerifyReport; fleet?: FleetSummary } };
  rollback: { args: { module?: string; origin?: 'cli' | 'dashboard' }; reply: PatchRecord & { fleet?: FleetSummary } };
  state: { args: { store: string; path?: string }; reply: unknown };
  call: { args: { handler: string; payload?: unknown; player?: string }; reply: { result: unknown } };
  drop: { args: { player: string }; reply: { dropped: string } };
  snapshot: { args: Record<string, never>; reply: SnapshotReply };
}

export type AdminActionName = keyof AdminActions;

/** The push every admin connection gets after each patch or rollback: `['patch', 0, record]`. */
export const PATCH_PUSH = 'patch';
