import { describe, expect, it } from 'vitest';
import { medianRun, verdict, type Point } from '../../tools/bench/arena.ts';

// The arena bench's verdict: a run whose clients fell far behind the tick
// rate proves nothing (it once said "met" at 2-4 updates/s), and the server's
// CPU is judged against Colyseus's (measured in the same run, else issue 14's
// table) as well as the bytes.

const healthy: Point = { bytesPerClientPerTick: 11_000, bytesPerMovedPlayer: 11, updatesPerClientPerSecond: 19.8, movedSeenPerTick: 1000, joinSeconds: 1, open: 1000, cpu: 0.3, rss: 100 };

describe('arena bench verdict', () => {
  it('meets the goal only with bytes and CPU both within it, at the tick rate', () => {
    expect(verdict(healthy, 1000)).toMatchObject({ met: true, goal: expect.stringContaining('0.43') });
  });

  it('calls a run whose clients got far fewer updates than ticks INVALID, however few its bytes', () => {
    const v = verdict({ ...healthy, updatesPerClientPerSecond: 3 }, 1000);
    expect(v.met).toBe(false);
    expect(v.note).toMatch(/^INVALID: clients got 3\.0 updates\/s of the 20/);
  });

  it('calls a run with no bytes INVALID', () => {
    expect(verdict({ ...healthy, bytesPerClientPerTick: 0, bytesPerMovedPlayer: 0 }, 100).note).toMatch(/INVALID: clients got no bytes/);
  });

  it('fails on CPU above Colyseus at each size, and says so', () => {
    for (const [players, cores] of [[100, 0.06], [500, 0.21], [1000, 0.43]] as const) {
      const over = verdict({ ...healthy, cpu: cores + 0.01 }, players);
      expect(over.met).toBe(false);
      expect(over.note).toContain(`vs ${cores}: NOT met`);
      expect(verdict({ ...healthy, cpu: cores }, players).met).toBe(true);
    }
  });

  it('judges CPU against the Colyseus room measured in the same run when there is one', () => {
    const colyseus = { ...healthy, cpu: 0.36 };
    expect(verdict({ ...healthy, cpu: 0.36 }, 500, colyseus)).toMatchObject({ met: true, goal: expect.stringContaining("CPU <= 0.36 cores (Colyseus in this run; issue 14's table: 0.21)") });
    const over = verdict({ ...healthy, cpu: 0.4 }, 500, colyseus);
    expect(over.met).toBe(false);
    expect(over.note).toContain('CPU 0.40 vs 0.36: NOT met');
  });

  it('judges no CPU against a Colyseus run whose clients fell behind, and does not call it met', () => {
    const v = verdict({ ...healthy, cpu: 0.1 }, 1000, { ...healthy, cpu: 0.9, updatesPerClientPerSecond: 10 });
    expect(v.met).toBe(false);
    expect(v.note).toMatch(/CPU not judged: the Colyseus run was INVALID: clients got 10\.0 updates\/s/);
  });

  it('fails on bytes per moved player above 12', () => {
    expect(verdict({ ...healthy, bytesPerMovedPlayer: 12.5 }, 500)).toMatchObject({ met: false, note: expect.stringContaining('bytes NOT met') });
  });

  it('judges interleaved rounds on the run of median CPU, and shows every run', () => {
    const runs = [0.31, 0.27, 0.35].map((cpu) => ({ ...healthy, cpu }));
    const { median, spread } = medianRun(runs);
    expect(median).toBe(runs[0]);
    expect(spread).toBe(' (median of 3 interleaved runs: 0.27, 0.31, 0.35)');
    expect(medianRun([runs[2]!])).toEqual({ median: runs[2], spread: '' });
  });
});
