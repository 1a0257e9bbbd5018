import { expect, it } from 'vitest';
import { ErrorThrottle } from '../../server/patch/error-throttle.ts';

// One log line per kind of failure per window, saying how many were left out.

it('logs the first failure of a kind, leaves out the rest of the window, then says how many', () => {
  const throttle = new ErrorThrottle(5000);
  expect(throttle.admit('shop.buy@2:logic/shop.ts:2:9', 0)).toEqual({ log: true, leftOut: 0 });
  for (let i = 1; i <= 99; i++) expect(throttle.admit('shop.buy@2:logic/shop.ts:2:9', i).log).toBe(false);
  // Another kind (another version) is not held back by the first.
  expect(throttle.admit('shop.buy@3:logic/shop.ts:2:9', 50)).toEqual({ log: true, leftOut: 0 });
  expect(throttle.admit('shop.buy@2:logic/shop.ts:2:9', 5000)).toEqual({ log: true, leftOut: 99 });
  expect(throttle.admit('shop.buy@2:logic/shop.ts:2:9', 5001)).toEqual({ log: false, leftOut: 1 });
});
