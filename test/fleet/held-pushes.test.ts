import fc from 'fast-check';
import { expect, it } from 'vitest';
import { HeldPushes, type Held, type Item } from '../../server/fleet/held-pushes.ts';

// The hold of cross-node pushes during a Redis outage against a model (a
// plain list kept sorted by order of sending): any mix of holds (some late,
// as when a PUBLISH fails after newer pushes were held), expiries and
// deliveries keeps the order of sending, stays within its count bound, says
// which targets have pushes waiting, and counts every push exactly once as
// delivered, dropped or still held.

type Op =
  | { op: 'hold'; target: number; late: number; size: number; dt: number }
  | { op: 'expire'; dt: number }
  | { op: 'deliver'; every: number };

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('hold' as const), target: fc.integer({ min: 0, max: 4 }), late: fc.integer({ min: 0, max: 3 }), size: fc.integer({ min: 0, max: 200 }), dt: fc.integer({ min: 0, max: 400 }) }),
    fc.record({ op: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 2000 }) }),
    fc.record({ op: fc.constant('deliver' as const), every: fc.integer({ min: 1, max: 3 }) }),
  ),
  { maxLength: 120 },
);

it('keeps the order of sending, its bounds and an exact count of every push', () => {
  fc.assert(
    fc.property(ops, (script) => {
      const held = new HeldPushes({ count: 20, bytes: 4000, ageMs: 1000 });
      let model: Array<{ seq: number; at: number; target: string }> = [];
      let now = 0;
      let seq = 0;
      let made = 0;
      let dropped = 0;
      let delivered = 0;
      for (const step of script) {
        if (step.op === 'hold') {
          now += step.dt;
          // A late hold takes a place a few sends back, as a failed PUBLISH does (a unique fraction keeps every seq distinct).
          const s = step.late === 0 ? seq : Math.max(0, seq - step.late) + 1 / (seq + 2);
          seq++;
          made++;
          const item: Item = ['p', `t${step.target}`, 'e', 'x'.repeat(step.size), 0];
          dropped += held.hold(item, undefined, now, s);
          model.push({ seq: s, at: now, target: `p:t${step.target}` });
          model.sort((a, b) => a.seq - b.seq);
        } else if (step.op === 'expire') {
          now += step.dt;
          const n = held.expire(now);
          dropped += n;
          let front = 0;
          while (front < model.length && now - model[front]!.at > 1000) front++;
          // The hold may have dropped the oldest for its bounds: the model follows what it kept.
          expect(n).toBeLessThanOrEqual(front);
        } else {
          const all = held.snapshot();
          const some: Held[] = all.filter((_, i) => i % step.every === 0);
          delivered += held.settle(some);
        }
        const kept = held.snapshot();
        // In order of sending, within the count bound, and every push accounted for once.
        expect(kept.map((h) => h.seq)).toEqual([...kept.map((h) => h.seq)].sort((a, b) => a - b));
        expect(kept.length).toBeLessThanOrEqual(20);
        expect(made).toBe(kept.length + dropped + delivered);
        // What the model has that the hold kept, in the same order.
        const keptSeqs = new Set(kept.map((h) => h.seq));
        model = model.filter((m) => keptSeqs.has(m.seq));
        expect(model.map((m) => m.seq)).toEqual(kept.map((h) => h.seq));
        // Targets waiting: exactly those with a push held.
        for (let t = 0; t < 5; t++) expect(held.holds(['p', `t${t}`, 'e', null, 0])).toBe(model.some((m) => m.target === `p:t${t}`));
      }
    }),
    { numRuns: 300 },
  );
});
