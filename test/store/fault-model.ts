import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { Disk } from '../../server/store/io.ts';
import { Persistence, type FsyncMode } from '../../server/store/persistence.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { transact } from '../../server/store/transaction.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

// A workload over a real data folder, a model of what it committed and what
// was acknowledged, and the check that a fresh recovery agrees with the
// model: the way SQLite tests its I/O error paths. Shared by the fault walk
// and its randomised version.

export type Op = { kind: 'commit'; count: number; pad: number } | { kind: 'snapshot' };

interface Row {
  i: number;
  pad: string;
}

export function world() {
  const registry = new StoreRegistry();
  const counter = defineStore('counter', { n: 0 });
  const rows = defineTable<Row>('rows');
  registry.add(counter, 'test');
  registry.add(rows, 'test');
  return { registry, counter, rows, state: () => ({ n: counter.get().n, rows: rows.toObject() }) };
}

export type State = ReturnType<ReturnType<typeof world>['state']>;

export interface Outcome {
  /** The state after each number of transactions: states[k] after k. */
  states: State[];
  committed: number;
  /** The highest transaction whose durability was acknowledged (all before it were, too). */
  acked: number;
  crashed: boolean;
  /** Under `interval`: transactions that were acknowledged while the journal was failing (must be none). */
  okWhileFailing: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `ops` on `dir` through `disk`; then waits for the journal to heal (unless crashed) and abandons, as a kill -9 would. */
export async function runWorkload(dir: string, disk: Disk, mode: FsyncMode, ops: Op[]): Promise<Outcome> {
  const w = world();
  const p = new Persistence(dir, w.registry, mode, { disk, retryMs: 1 });
  await p.recover();
  const out: Outcome = { states: [w.state()], committed: 0, acked: 0, crashed: false, okWhileFailing: 0 };
  const ackedSet = new Set<number>();
  for (const op of ops) {
    if (op.kind === 'snapshot') {
      await p.snapshot().catch(() => undefined);
      continue;
    }
    const waits: Array<Promise<void>> = [];
    for (let c = 0; c < op.count; c++) {
      const i = ++out.committed;
      transact(() => {
        w.counter.update((d) => void (d.n = i));
        w.rows.set(`r${i % 4}`, { i, pad: 'x'.repeat(op.pad) });
        if (i % 5 === 0) w.rows.delete(`r${(i + 2) % 4}`);
      });
      out.states.push(w.state());
      const failing = p.health().failing !== undefined;
      const gate = p.durable(i);
      if (!gate) {
        ackedSet.add(i);
        if (failing) out.okWhileFailing++;
      } else waits.push(gate.then(() => void ackedSet.add(i), () => undefined));
    }
    await Promise.all(waits);
  }
  out.crashed = disk.crashed;
  if (!disk.crashed) {
    for (let t = 0; t < 2000 && (p.health().failing || p.health().waiting > 0); t++) await sleep(2);
  }
  await p.abandon();
  out.crashed = disk.crashed;
  out.acked = Math.max(0, ...ackedSet);
  return out;
}

/** Recovers with a clean disk and returns the recovered state and report. */
export async function recoverClean(dir: string, mode: FsyncMode = 'always') {
  const w = world();
  const p = new Persistence(dir, w.registry, mode);
  const report = await p.recover();
  return { w, p, report, state: w.state() };
}

/** After a recovery: two more transactions, a crash, and a recovery again must keep them (nothing written behind a hole). */
export async function writesAfterRecoveryStick(dir: string): Promise<boolean> {
  const { w, p, state } = await recoverClean(dir);
  for (let k = 1; k <= 2; k++) {
    transact(() => w.counter.update((d) => void (d.n = state.n + k)));
    await p.durable();
  }
  await p.abandon();
  const again = await recoverClean(dir);
  await again.p.abandon();
  return again.state.n === state.n + 2;
}

/** Three phases: 40 transactions, snapshot, 40, snapshot, 40. Journals 40 and 80 hold 41..120; one state per transaction. */
export async function history(dir: string): Promise<State[]> {
  const w = world();
  const states: State[] = [w.state()];
  const p = new Persistence(dir, w.registry, 'always');
  await p.recover();
  const commit = (from: number, to: number) => {
    for (let i = from; i <= to; i++) {
      transact(() => {
        w.counter.update((d) => void (d.n = i));
        w.rows.set(`r${i}`, { i, pad: 'p'.repeat(i % 40) });
      });
      states[i] = w.state();
    }
  };
  commit(1, 40);
  await p.snapshot();
  commit(41, 80);
  await p.snapshot();
  commit(81, 120);
  await p.durable();
  await p.abandon();
  return states;
}

/** Recovers a fresh world from `dir`: its report and state, or the error that refused the start. */
export async function recoverOrError(dir: string) {
  const w = world();
  const p = new Persistence(dir, w.registry, 'always');
  try {
    const report = await p.recover();
    await p.abandon();
    return { report, state: w.state() };
  } catch (err) {
    return { err: err as Error };
  }
}
