import { expect, it } from 'vitest';
import type { FleetSummary } from '../../server/fleet/patch-coordinator.ts';
import { formatFleetPatch } from '../../tools/cli/format-fleet.ts';

// What rebind patch prints under a fleet patch that never reached a node:
// it said "fleet aborted: no node changed on 0 node(s)", which reads as if
// the fleet had refused a patch that in fact did not build.

const summary = (nodes: FleetSummary['nodes'], decision: FleetSummary['decision'] = 'abort'): FleetSummary => ({
  id: 'n1-abc-123456',
  decision,
  nodes,
  timings: { buildMs: 12, prepareMs: 0, commitMs: 0, totalMs: 12.5 },
});
const text = (lines: string[]) => lines.join('\n').replace(/\x1b\[[0-9;]*m/g, '');

it('a patch that failed before any node was asked says so, not "aborted on 0 node(s)"', () => {
  const shown = text(formatFleetPatch(summary([]), { ok: false }));
  expect(shown).toContain('no node was asked: the patch failed before it was shipped');
  expect(shown).toContain('did not build');
  expect(shown).not.toMatch(/aborted|0 node\(s\)/);
});

it('a no-op says nothing was changed; a refusal by a node still lists the nodes', () => {
  expect(text(formatFleetPatch(summary([]), { ok: true, noop: true }))).toContain('no node was asked: nothing to change');
  const refused = text(formatFleetPatch(summary([{ node: 'n2', prepared: false, error: { code: 'INIT_FAILED', message: 'boom' } }, { node: 'n1', prepared: true }]), { ok: false }));
  expect(refused).toContain('aborted: no node changed on 2 node(s)');
  expect(refused).toContain('REFUSED (INIT_FAILED)');
});

it('a node that did not answer says why it gave no answer (lost, the deadline, Redis away)', () => {
  const shown = text(formatFleetPatch(summary([{ node: 'n1', prepared: false, error: { code: 'PATCH_TIME_LIMIT', message: 'init ran over' } }, { node: 'n3', prepared: null, error: { code: 'NODE_GONE', message: 'node n3 was reported lost' } }, { node: 'n2', prepared: null }]), { ok: false }));
  expect(shown).toContain('n1  REFUSED (PATCH_TIME_LIMIT)');
  expect(shown).toContain('n3  did not answer (NODE_GONE)');
  expect(shown).toMatch(/n2 {2}did not answer$/m);
});
