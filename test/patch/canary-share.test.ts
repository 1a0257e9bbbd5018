import { expect, it } from 'vitest';
import { canaryPoint } from '../../server/patch/bindings.ts';

// The canary share must hold for the ids games really use: sequential ones
// with a common prefix (p-c0, p-c1, ...). Plain FNV-1a's top bits skew there
// (a 10% canary served 1.3% of p-c0..p-c299), so the hash is mixed before it
// is scaled.
const ranges: Array<[string, number, number]> = [
  ['p-c', 0, 1000],
  ['p-x', 3000, 4000],
  ['p-ann', 0, 1000],
  ['player-', 0, 1000],
  ['p-c', 0, 300],
];

for (const [prefix, from, to] of ranges) {
  it(`a 10% canary serves 7-13% of ${prefix}${from}..${prefix}${to - 1}`, () => {
    let under = 0;
    for (let i = from; i < to; i++) if (canaryPoint(`${prefix}${i}`) < 0.1) under++;
    const share = under / (to - from);
    expect(share).toBeGreaterThanOrEqual(0.07);
    expect(share).toBeLessThanOrEqual(0.13);
  });
}

it('canaryPoint is stable and in [0, 1)', () => {
  for (let i = 0; i < 1000; i++) {
    const p = canaryPoint(`id-${i}`);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(1);
    expect(canaryPoint(`id-${i}`)).toBe(p);
  }
});
