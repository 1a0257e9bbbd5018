import { isRebindError } from '../errors.ts';
import type { Manifest } from '../patch/live-code.ts';
import type { FleetPatcher } from './patch-coordinator.ts';
import type { NodeRecord } from './node.ts';

// What `rebind status` adds in a fleet: every live node with its players,
// rooms and code versions, and, for each, where its code differs from the
// fleet's manifest (the code every node should run).

export type CodeVersions = Record<string, { version: number; hash: string }>;

export interface FleetNodeStatus {
  id: string;
  self: boolean;
  gameUrl: string;
  adminUrl: string | null;
  players: number;
  rooms: number;
  code: CodeVersions;
  /** One line per module that differs from the fleet's manifest; empty when the node runs the fleet's code. */
  differs: string[];
  /** How old the node's record is (its heartbeat), in ms. */
  seenMsAgo: number;
}

/** Whether the fleet's Redis answers; while it does not, only this node is known (the answer is partial: `rebind status` exits 3). */
export type FleetRedisStatus = { up: true } | { up: false; downSince: number; why: string };

export interface FleetStatus {
  node: string;
  redis: FleetRedisStatus;
  /** The fleet's manifest: the code every node should run (null before any node wrote one). */
  manifest: CodeVersions | null;
  nodes: FleetNodeStatus[];
  /** The fleet patch under way, if any. */
  patching: string | null;
}

export function codeOf(manifest: Manifest): CodeVersions {
  return Object.fromEntries(Object.values(manifest.modules).map((m) => [m.module, { version: m.version, hash: m.hash }]));
}

/** Where `code` differs from `wanted`: "arena: v4 a40eb6f1, fleet v5 9f8e7d6c". */
export function differences(code: CodeVersions, wanted: CodeVersions): string[] {
  const lines: string[] = [];
  for (const [module, want] of Object.entries(wanted)) {
    const have = code[module];
    if (!have) lines.push(`${module}: not live, fleet v${want.version} ${want.hash.slice(0, 8)}`);
    else if (have.hash !== want.hash) lines.push(`${module}: v${have.version} ${have.hash.slice(0, 8)}, fleet v${want.version} ${want.hash.slice(0, 8)}`);
  }
  for (const [module, have] of Object.entries(code)) if (!wanted[module]) lines.push(`${module}: v${have.version} ${have.hash.slice(0, 8)}, not in the fleet's code`);
  return lines.sort();
}

export async function fleetStatus(patcher: FleetPatcher): Promise<FleetStatus> {
  const node = patcher.local.node;
  // This node's own entry is read now, not from its last heartbeat.
  const own: NodeRecord = node.record();
  const outage = node.redis.outage;
  if (outage) return alone(node.id, own, outage);
  let records: NodeRecord[], manifest: Manifest | null | undefined, patching: string | null;
  try {
    let holder: string | null;
    [records, manifest, holder] = await Promise.all([node.liveNodes(), patcher.local.code.manifest(), patcher.local.code.lockHolder()]);
    // The lock outlives the decision (the coordinator still gathers the nodes' outcomes, or died holding it): a decided patch is not under way.
    patching = holder && !(await patcher.local.code.decision(holder)) ? holder : null;
  } catch (err) {
    // Redis went away (or froze) between the check and the reads: still this node's own status, never nothing.
    if (!isRebindError(err) || err.code !== 'FLEET_UNAVAILABLE') throw err;
    return alone(node.id, own, node.redis.outage ?? { since: Date.now(), why: err.message });
  }
  const wanted = manifest ? codeOf(manifest) : null;
  const all = [own, ...records.filter((r) => r.id !== own.id)];
  return { node: node.id, redis: { up: true }, manifest: wanted, patching, nodes: all.map((r) => nodeStatus(r, own.id, wanted)).sort((a, b) => a.id.localeCompare(b.id)) };
}

/** Redis is down: this node only; the fleet's manifest, the other nodes and a patch under way are not known now. */
function alone(id: string, own: NodeRecord, outage: { since: number; why: string }): FleetStatus {
  return { node: id, redis: { up: false, downSince: outage.since, why: outage.why }, manifest: null, patching: null, nodes: [nodeStatus(own, own.id, null)] };
}

function nodeStatus(r: NodeRecord, self: string, wanted: CodeVersions | null): FleetNodeStatus {
  return {
    id: r.id,
    self: r.id === self,
    gameUrl: r.gameUrl,
    adminUrl: r.adminUrl,
    players: r.load.players,
    rooms: r.load.rooms,
    code: r.code,
    differs: wanted ? differences(r.code, wanted) : [],
    seenMsAgo: Math.max(0, Date.now() - r.at),
  };
}
