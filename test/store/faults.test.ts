import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Disk, type Fault, type IoCall } from '../../server/store/io.ts';
import { recoverClean, runWorkload, writesAfterRecoveryStick, type Op, type Outcome } from './fault-model.ts';
import { tempDirs } from './temp-dirs.ts';

// Every I/O call of a workload, in turn, fails (ENOSPC, EIO), writes only part
// of its bytes, or crashes the "process"; a fresh recovery must then agree
// with what was acknowledged, and writing on from it must stick.

const tempDir = tempDirs('rebind-faults-');

const WORKLOAD: Op[] = [
  { kind: 'commit', count: 1, pad: 10 },
  { kind: 'commit', count: 3, pad: 300 },
  { kind: 'commit', count: 2, pad: 5 },
  { kind: 'snapshot' },
  { kind: 'commit', count: 2, pad: 2000 },
  { kind: 'commit', count: 1, pad: 1 },
  { kind: 'snapshot' },
  { kind: 'commit', count: 3, pad: 50 },
];

/** A fault at exactly one call, or (`from`) at that call and every later one of the same kind until `until`. */
function faultAt(n: number, fault: Fault): (call: IoCall) => Fault | undefined {
  return (call) => (call.n === n ? (('short' in fault) && call.op !== 'write' ? { error: 'EIO' } : fault) : undefined);
}

async function check(dir: string, out: Outcome, label: string): Promise<void> {
  const { p, state } = await recoverClean(dir).catch((err: Error) => {
    throw new Error(`${label}: recovery refused: ${err.message}`);
  });
  await p.abandon();
  expect(state.n, `${label}: an acknowledged transaction was lost`).toBeGreaterThanOrEqual(out.acked);
  expect(state, `${label}: the recovered state is not a prefix of the history`).toEqual(out.states[state.n]);
  if (!out.crashed) expect(state.n, `${label}: a transaction committed in memory never reached the disk`).toBe(out.committed);
  expect(out.okWhileFailing, `${label}: acknowledged while the journal was failing`).toBe(0);
  expect(await writesAfterRecoveryStick(dir), `${label}: writes after recovery were lost`).toBe(true);
}

describe('fault injection at every I/O call', () => {
  it('under fsync always: ENOSPC, EIO, a short write or a crash at call N keeps every acknowledged transaction', async () => {
    const dry = new Disk();
    const dryOut = await runWorkload(tempDir(), dry, 'always', WORKLOAD);
    expect(dryOut.acked).toBe(dryOut.committed);
    const calls = dry.calls;
    expect(calls).toBeGreaterThan(20);
    const faults: Array<[string, Fault]> = [
      ['ENOSPC', { error: 'ENOSPC' }],
      ['EIO', { error: 'EIO' }],
      ['short', { short: 7 }],
      ['crash', { crash: true }],
    ];
    let crashedRuns = 0;
    for (const [name, fault] of faults) {
      for (let n = 1; n <= calls; n++) {
        const dir = tempDir();
        const disk = new Disk();
        disk.plan = faultAt(n, fault);
        const out = await runWorkload(dir, disk, 'always', WORKLOAD);
        if (out.crashed) crashedRuns++;
        await check(dir, out, `${name} at call ${n} of ${calls}`);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    expect(crashedRuns).toBe(calls);
  }, 120_000);

  it('under fsync interval: while writes fail no reply says OK, and everything is written once they succeed', async () => {
    const dir = tempDir();
    const disk = new Disk();
    let full = false;
    disk.plan = (call) => (full && (call.op === 'write' || call.op === 'sync') ? { error: 'ENOSPC' } : undefined);
    const { Persistence } = await import('../../server/store/persistence.ts');
    const { world } = await import('./fault-model.ts');
    const { transact } = await import('../../server/store/transaction.ts');
    const w = world();
    const p = new Persistence(dir, w.registry, 'interval', { disk, retryMs: 5 });
    await p.recover();
    transact(() => w.counter.update((d) => void (d.n = 1)));
    expect(p.durable()).toBeUndefined();
    await p.flushed();
    full = true;
    transact(() => w.counter.update((d) => void (d.n = 2)));
    await p.flushed();
    for (let i = 3; i <= 10; i++) {
      transact(() => w.counter.update((d) => void (d.n = i)));
      const gate = p.durable();
      expect(gate).toBeInstanceOf(Promise);
      const err = await gate!.then(() => undefined, (e: Error & { code?: string }) => e);
      expect(err?.code).toBe('PERSIST_ERROR');
      expect(err?.message).toContain(dir);
      expect(err?.message).toContain('ENOSPC');
    }
    expect(p.stats().failing).toContain('ENOSPC');
    full = false;
    for (let t = 0; t < 500 && p.health().failing; t++) await new Promise((r) => setTimeout(r, 5));
    expect(p.health().failing).toBeUndefined();
    expect(p.durable()).toBeUndefined();
    await p.flushed();
    await p.abandon();
    const again = await recoverClean(dir);
    expect(again.state.n).toBe(10);
    await again.p.abandon();
  });

  it('randomised: transactions, snapshots, faults and crashes (fast-check shrinks a failure to a minimal case)', async () => {
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('commit' as const), count: fc.integer({ min: 1, max: 4 }), pad: fc.integer({ min: 0, max: 3000 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
    );
    const fault = fc.oneof(
      fc.constant<Fault>({ error: 'ENOSPC' }),
      fc.constant<Fault>({ error: 'EIO' }),
      fc.integer({ min: 0, max: 4000 }).map<Fault>((short) => ({ short })),
      fc.constant<Fault>({ crash: true }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 80 }), fault), { maxLength: 4 }), fc.constantFrom('always' as const, 'interval' as const), async (ops, faults, mode) => {
        const dir = tempDir();
        const disk = new Disk();
        const byCall = new Map(faults);
        disk.plan = (call) => {
          const f = byCall.get(call.n);
          if (f && 'short' in f && call.op !== 'write') return { error: 'EIO' };
          return f;
        };
        const out = await runWorkload(dir, disk, mode, ops);
        if (mode === 'interval') out.acked = out.crashed ? 0 : out.acked; // interval promises only what an fsync covered
        await check(dir, out, `${mode} ${JSON.stringify(faults)}`);
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
