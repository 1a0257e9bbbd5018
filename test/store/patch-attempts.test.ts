import { expect, it } from 'vitest';
import { carryingAttempts, currentAttempt, inPatchAttempt, transact, type PatchAttempt } from '../../server/store/transaction.ts';
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
  const seenLater: Array<PatchAttempt | undefined> = [];
  inPatchAttempt(ok, () => {
    expect(carryingAttempts()).toBe(true);
    expect(currentAttempt()).toBe(ok);
    void Promise.resolve().then(() => rows.set('late-ok', { n: 1 }));
    setImmediate(() => seenLater.push(currentAttempt()));
  });
  expect(carryingAttempts()).toBe(false);
  await tick();
  expect(rows.get('late-ok')).toEqual({ n: 1 });
  // Node no longer carries it: what the good attempt queued runs as no attempt's.
  expect(seenLater).toEqual([undefined]);

  const refused: PatchAttempt = { label: 'm v3', refused: false };
  let seenByRefused: PatchAttempt | undefined;
  expect(() =>
    inPatchAttempt(refused, () => {
      setImmediate(() => rows.set('late-refused', { n: 2 }));
      setImmediate(() => (seenByRefused = currentAttempt()));
      throw new Error('init refuses');
    }),
  ).toThrow('init refuses');
  refused.refused = true;
  expect(carryingAttempts()).toBe(true);
  await tick();
  await tick();
  expect(rows.has('late-refused')).toBe(false);
  // Still carried: what the refused attempt queued knows it is the refused attempt's.
  expect(seenByRefused).toBe(refused);

  // Once on, it stays on: a later good attempt does not switch it off.
  inPatchAttempt({ label: 'm v4', refused: false }, () => transact(() => rows.set('now', { n: 3 })));
  expect(carryingAttempts()).toBe(true);
  expect(rows.get('now')).toEqual({ n: 3 });
});
