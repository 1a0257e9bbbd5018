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

  // While the refused attempt is alive (here this test holds it), a later good attempt does not switch it off.
  inPatchAttempt({ label: 'm v4', refused: false }, () => transact(() => rows.set('now', { n: 3 })));
  expect(carryingAttempts()).toBe(true);
  expect(rows.get('now')).toEqual({ n: 3 });
});

it('stops carrying attempts once nothing a refused attempt queued is left, and not before', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const collect = async () => {
    for (let i = 0; i < 5; i++) {
      gc();
      await tick();
    }
  };
  const registry = new StoreRegistry();
  const rows = new Table<{ n: number }>('rows2');
  registry.add(rows, 'test');
  let fired = false;
  // Made and refused in a function of its own: only what it queued holds the attempt afterwards.
  const refuse = () => {
    const attempt: PatchAttempt = { label: 'm v5', refused: false };
    try {
      inPatchAttempt(attempt, () => {
        setTimeout(() => {
          fired = true;
          rows.set('late', { n: 1 });
          // Long enough to outlast the collections below on a loaded machine (at 150 ms, a CI run saw it fire first).
        }, 2000);
        throw new Error('init refuses');
      });
    } catch {
      attempt.refused = true;
    }
  };
  refuse();
  await collect();
  // Its timer is still pending: still carried, and the timer's write is still dropped when it fires.
  expect(carryingAttempts()).toBe(true);
  while (!fired) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(rows.has('late')).toBe(false);
  await collect();
  expect(carryingAttempts()).toBe(false);
  // Switched off: what a good attempt queues runs as no attempt's.
  let seen: PatchAttempt | undefined | null = null;
  inPatchAttempt({ label: 'm v6', refused: false }, () => setImmediate(() => (seen = currentAttempt())));
  await tick();
  expect(seen).toBeUndefined();
  expect(carryingAttempts()).toBe(false);
});
