import fc from 'fast-check';
import { expect, it } from 'vitest';
import { SeenPushes } from '../../server/fleet/seen-pushes.ts';

// The receiver's memory of the pushes it delivered, against a model: a
// second copy of a push is refused while its first is among the sender's
// latest marks, any push seen for the first time is taken, and memory stays
// within its bounds (the oldest marks and senders are forgotten first).

it('takes each (sender, seq) once while it is remembered, and forgets the oldest first', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 30 })), { maxLength: 300 }), (arrivals) => {
      const perSender = 8;
      const maxSenders = 3;
      const seen = new SeenPushes(perSender, maxSenders);
      // The model: per sender, its remembered marks oldest first; senders oldest first.
      const model = new Map<string, number[]>();
      for (const [s, seq] of arrivals) {
        const sender = `n${s}`;
        let marks = model.get(sender);
        if (!marks) {
          if (model.size >= maxSenders) model.delete(model.keys().next().value!);
          model.set(sender, (marks = []));
        }
        const expected = !marks.includes(seq);
        if (expected) {
          marks.push(seq);
          if (marks.length > perSender) marks.shift();
        }
        expect(seen.first(sender, seq)).toBe(expected);
      }
    }),
  );
});

it('a second copy within the bound is refused; other senders and new pushes are not', () => {
  const seen = new SeenPushes();
  for (let i = 0; i < 15_000; i++) expect(seen.first('a x', i)).toBe(true);
  expect(seen.first('a x', 0)).toBe(false);
  expect(seen.first('a x', 14_999)).toBe(false);
  // The same node restarted (another mark): its order starts again and nothing is refused.
  expect(seen.first('a y', 0)).toBe(true);
  expect(seen.first('b x', 0)).toBe(true);
});
