import { describe, expect, it } from 'vitest';
import { verdict, type Point } from '../../tools/bench/arena.ts';

// The arena bench's verdict: a run whose clients fell far behind the tick
// rate proves nothing (it once said "met" at 2-4 updates/s), and the server's
// CPU is judged against Colyseus's figures as well as the bytes.

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

  it('fails on bytes per moved player above 12', () => {
    expect(verdict({ ...healthy, bytesPerMovedPlayer: 12.5 }, 500)).toMatchObject({ met: false, note: expect.stringContaining('bytes NOT met') });
  });
});
