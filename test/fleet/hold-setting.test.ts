import { afterAll, describe, expect, it } from 'vitest';
import { HOLD_LIMITS, HOLD_MS_RANGE, holdLimitsFrom } from '../../server/fleet/held-pushes.ts';
import { startFleet, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// REBIND_FLEET_HOLD_MS, how long a node holds cross-node pushes through a
// Redis outage, took any text: "abc", "-5" and "0" silently became the
// default, and "1e12" a hold of thirty years. A value outside whole
// milliseconds from 1 s to 10 min is now said in an error line at the start,
// and the default is used.

describe('REBIND_FLEET_HOLD_MS', () => {
  it('takes whole milliseconds within its range, and refuses anything else with a reason', () => {
    expect(holdLimitsFrom(undefined)).toEqual({ limits: HOLD_LIMITS });
    expect(holdLimitsFrom('')).toEqual({ limits: HOLD_LIMITS });
    expect(holdLimitsFrom('6000').limits.ageMs).toBe(6000);
    expect(holdLimitsFrom(String(HOLD_MS_RANGE.min)).limits.ageMs).toBe(HOLD_MS_RANGE.min);
    expect(holdLimitsFrom(String(HOLD_MS_RANGE.max)).limits.ageMs).toBe(HOLD_MS_RANGE.max);
    for (const bad of ['abc', '-5', '0', '1e12', '999', '600001', '2.5', 'Infinity', 'NaN', '30s', '0x3e8', '1e3', '1000.0', '+1000', ' 1000', '0b1111101000']) {
      const { limits, problem } = holdLimitsFrom(bad);
      expect(limits.ageMs, bad).toBe(HOLD_MS_RANGE.fallback);
      expect(problem, bad).toContain(`got "${bad}"`);
      expect(problem, bad).toContain(`from ${HOLD_MS_RANGE.min} to ${HOLD_MS_RANGE.max}`);
    }
    // Only the age bound changes; the count and byte bounds stay.
    expect(holdLimitsFrom('6000').limits).toEqual({ ...HOLD_LIMITS, ageMs: 6000 });
  });
});

describe.skipIf(!redisOrSkip())('REBIND_FLEET_HOLD_MS on a node', () => {
  let fleet: TestFleet | undefined;
  afterAll(async () => {
    await fleet?.stop();
  });

  it('a bad value is an error line at the start, naming the value and the default used', async () => {
    fleet = await startFleet({ nodes: 1, files: FLEET_GAME, env: { REBIND_FLEET_HOLD_MS: '1e12' } });
    const node = fleet.nodes[0]!;
    await waitFor(() => node.proc.output().includes('REBIND_FLEET_HOLD_MS'), 10_000, 'the line about REBIND_FLEET_HOLD_MS');
    const line = node.proc.output().split('\n').find((l) => l.includes('REBIND_FLEET_HOLD_MS'))!;
    expect(line).toContain('got \\"1e12\\"');
    expect(line).toContain('the default 30000 ms is used');
    expect(line).toContain('"level":50');
  }, 60_000);
});
