import type { FleetSummary } from '../../server/fleet/patch-coordinator.ts';
import type { FleetStatus } from '../../server/fleet/patch-status.ts';
import { paint } from './format.ts';

// How the CLI shows a fleet: what each node did with a fleet patch, and
// every node's players, rooms and code beside the fleet's manifest.

/** Lines under a fleet patch's record: the timings, and each node's part. `record`: how the patch ended here (a stop before any node was asked has no nodes to show). */
export function formatFleetPatch(f: FleetSummary, record: { ok: boolean; noop?: boolean } = { ok: true }): string[] {
  const t = f.timings;
  if (f.nodes.length === 0) {
    // Nothing was shipped: "aborted on 0 node(s)" read as if the fleet had refused it.
    if (record.noop) return [`${paint('bold', 'fleet')} no node was asked: nothing to change (patch ${f.id})`];
    if (!record.ok) return [`${paint('bold', 'fleet')} ${paint('red', 'no node was asked')}: the patch failed before it was shipped (it did not build, or the fleet's code could not be read: the error above says which); every node runs what it ran (patch ${f.id}, ${t.totalMs.toFixed(1)} ms)`];
  }
  const lines = [
    `${paint('bold', 'fleet')} ${f.decision === 'commit' ? paint('green', 'committed') : paint('red', 'aborted: no node changed')} on ${f.nodes.length} node(s) (patch ${f.id}; build ${t.buildMs.toFixed(1)} ms, prepare ${t.prepareMs.toFixed(1)} ms, commit ${t.commitMs.toFixed(1)} ms)`,
  ];
  for (const n of f.nodes) {
    const prepared = n.prepared === null ? paint('red', `did not answer${n.error ? ` (${n.error.code})` : ''}`) : n.prepared ? 'prepared' : paint('red', `REFUSED (${n.error?.code ?? '?'})`);
    let outcome = '';
    if (f.decision === 'abort') outcome = n.prepared ? (n.outcome ? 'aborted' : paint('yellow', 'did not confirm the abort')) : '';
    else if (n.outcome) outcome = n.outcome.ok ? paint('green', 'swapped') : paint('red', `FAILED TO SWAP (${n.outcome.error?.code ?? '?'}: ${n.outcome.error?.message ?? ''})`);
    else if (n.prepared !== null) outcome = paint('yellow', 'did not confirm the swap');
    lines.push(`  ${n.node}  ${prepared}${outcome ? `, ${outcome}` : ''}`);
  }
  return lines;
}

/** The fleet section of `rebind status`. */
export function formatFleetStatus(f: FleetStatus): string[] {
  if (f.redis && !f.redis.up) {
    const since = new Date(f.redis.downSince).toISOString().slice(11, 19);
    const own = f.nodes[0];
    return [
      '',
      `${paint('bold', 'fleet')}  ${paint('red', `the fleet's Redis is DOWN since ${since} UTC (${((Date.now() - f.redis.downSince) / 1000).toFixed(1)} s): ${f.redis.why}`)}`,
      `  the other nodes, the fleet's code and any patch under way are not known now; this node serves its own rooms${own ? ` (${own.id}: ${own.players} player(s), ${own.rooms} room(s))` : ''}`,
    ];
  }
  const lines = ['', `${paint('bold', 'fleet')}  ${f.nodes.length} node(s)${f.patching ? paint('yellow', `, patch ${f.patching} under way`) : ''}`];
  const code = (c: FleetStatus['manifest']) => (c ? Object.entries(c).sort(([a], [b]) => a.localeCompare(b)).map(([m, v]) => `${m} v${v.version} ${v.hash.slice(0, 8)}`).join(', ') : '-');
  lines.push(`  fleet code: ${f.manifest ? code(f.manifest) : paint('yellow', 'none recorded yet')}`);
  const width = Math.max(0, ...f.nodes.map((n) => n.id.length));
  for (const n of f.nodes) {
    const flag = n.differs.length > 0 ? paint('red', '  DIFFERS FROM THE FLEET') : '';
    lines.push(`  ${n.id.padEnd(width)}${n.self ? ' (this)' : '       '}  ${n.players} player(s), ${n.rooms} room(s)  ${n.gameUrl}${flag}`);
    lines.push(`    ${code(n.code)}`);
    for (const d of n.differs) lines.push(`    ${paint('red', d)}`);
  }
  return lines;
}
