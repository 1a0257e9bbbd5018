import fc from 'fast-check';
import { expect, it } from 'vitest';
import { SeenPushes } from '../../server/fleet/seen-pushes.ts';

// The receiver's memory of the pushes it delivered, against a model: per
// sender, a second copy of a push is refused while its place in the sender's
// order is within the window behind the latest place seen; a place older than
// that cannot be told from a first copy and is taken; senders are bounded,
// the oldest forgotten first (a forgotten sender's pushes are taken again).

it('takes each (sender, seq) once within the window, and forgets the oldest sender first', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 })), { maxLength: 400 }), (arrivals) => {
      const bits = 3; // a window of 8 places
      const maxSenders = 3;
      const seen = new SeenPushes(bits, maxSenders);
      const model = new Map<string, { highest: number; seen: Set<number> }>();
      for (const [s, seq] of arrivals) {
        const sender = `n${s}`;
        let m = model.get(sender);
        if (!m) {
          if (model.size >= maxSenders) model.delete(model.keys().next().value!);
          model.set(sender, (m = { highest: -1, seen: new Set() }));
        }
        m.highest = Math.max(m.highest, seq);
        for (const old of m.seen) if (old <= m.highest - 8) m.seen.delete(old);
        let expected: boolean;
        if (seq <= m.highest - 8) expected = true;
        else {
          expected = !m.seen.has(seq);
          m.seen.add(seq);
        }
        expect(seen.of(sender).first(seq)).toBe(expected);
      }
    }),
  );
});

it('a second copy within the bound is refused, also one held behind 20,000 newer pushes; other senders and new pushes are not', () => {
  const seen = new SeenPushes();
  const a = seen.of('a x');
  for (let i = 0; i < 15_000; i++) expect(a.first(i)).toBe(true);
  expect(a.first(0)).toBe(false);
  expect(a.first(14_999)).toBe(false);
  for (let i = 15_000; i < 40_000; i++) expect(a.first(i)).toBe(true);
  expect(a.first(20_000)).toBe(false);
  // The same node restarted (another mark): its order starts again and nothing is refused.
  expect(seen.of('a y').first(0)).toBe(true);
  expect(seen.of('b x').first(0)).toBe(true);
});
