import { expect, it } from 'vitest';
import { carryingAttempts, inPatchAttempt, transact, type PatchAttempt } from '../../server/store/transaction.ts';
import { Table } from '../../server/store/table.ts';
import { StoreRegistry } from '../../server/store/registry.ts';

// Node carries a patch attempt along to what it queues only once an attempt
// has been refused: before that, no write can need dropping, and on Node 20
// carrying it costs a hook at every socket write, timer and promise.

const tick = () => new Promise((resolve) => setImmediate(resolve));

it('carries attempts along only from the first refusal on, and still drops what a refused attempt queued', async () => {
  const registry = new StoreRegistry();
  const rows = new Table<{ n: number }>('rows');
  registry.add(rows, 'test');
  const ok: PatchAttempt = { label: 'm v2', refused: false };
  inPatchAttempt(ok, () => {
    expect(carryingAttempts()).toBe(true);
    void Promise.resolve().then(() => rows.set('late-ok', { n: 1 }));
  });
  expect(carryingAttempts()).toBe(false);
  await tick();
  expect(rows.get('late-ok')).toEqual({ n: 1 });

  const refused: PatchAttempt = { label: 'm v3', refused: false };
  expect(() =>
    inPatchAttempt(refused, () => {
      setImmediate(() => rows.set('late-refused', { n: 2 }));
      throw new Error('init refuses');
    }),
  ).toThrow('init refuses');
  refused.refused = true;
  expect(carryingAttempts()).toBe(true);
  await tick();
  await tick();
  expect(rows.has('late-refused')).toBe(false);

  // Once on, it stays on: a later good attempt does not switch it off.
  inPatchAttempt({ label: 'm v4', refused: false }, () => transact(() => rows.set('now', { n: 3 })));
  expect(carryingAttempts()).toBe(true);
  expect(rows.get('now')).toEqual({ n: 3 });
});
