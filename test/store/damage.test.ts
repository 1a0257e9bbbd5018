import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { isRebindError } from '../../server/errors.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { transact } from '../../server/store/transaction.ts';
import { world, type State } from './fault-model.ts';
import { waitFor } from '../helpers/project.ts';
import { marksProject, readMarks, startMarks } from './marks-project.ts';
import { tempDirs } from './temp-dirs.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

// Damage is refused with the file and the byte offset; --repair sets files
// aside (never truncating or deleting them) and nothing set aside is ever
// replayed again. Plus what the journal and snapshots must keep exactly:
// data versions, and any string as a key.

const tempDir = tempDirs('rebind-damage-');

/** Writes transactions from..to (one row and the counter each); returns the state after each. */
function commit(w: ReturnType<typeof world>, from: number, to: number, states: State[]): void {
  for (let i = from; i <= to; i++) {
    transact(() => {
      w.counter.update((d) => void (d.n = i));
      w.rows.set(`r${i}`, { i, pad: 'p'.repeat(i % 40) });
    });
    states[i] = w.state();
  }
}

/** Three phases: 40 transactions, snapshot, 40, snapshot, 40, then a crash. Journals 40 and 80 hold 41..120. */
async function history(dir: string): Promise<State[]> {
  const w = world();
  const states: State[] = [w.state()];
  const p = new Persistence(dir, w.registry, 'always');
  await p.recover();
  commit(w, 1, 40, states);
  await p.snapshot();
  commit(w, 41, 80, states);
  await p.snapshot();
  commit(w, 81, 120, states);
  await p.durable();
  await p.abandon();
  return states;
}

async function recoverOrError(dir: string, repair = false) {
  const w = world();
  const p = new Persistence(dir, w.registry, 'always', { repair });
  try {
    const report = await p.recover();
    return { w, p, report, state: w.state() };
  } catch (err) {
    return { err: err as Error };
  }
}

function copyDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) copyFileSync(path.join(from, f), path.join(to, f));
}

describe('damage is refused, never silently repaired', () => {
  it('a byte flipped anywhere in journals or snapshots: full recovery, or a refusal naming file and offset; --repair keeps a prefix and the evidence', async () => {
    const pristine = tempDir();
    const states = await history(pristine);
    const files = readdirSync(pristine).filter((f) => /^(journal|snapshot)-/.test(f));
    expect(files.sort()).toEqual(['journal-000000000040.bin', 'journal-000000000080.bin', 'snapshot-000000000040.bin', 'snapshot-000000000080.bin']);
    let refused = 0;
    let seed = 12345;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let trial = 0; trial < 24; trial++) {
      const dir = tempDir();
      copyDir(pristine, dir);
      const name = files[trial % files.length]!;
      const file = path.join(dir, name);
      const bytes = readFileSync(file);
      const offset = random(bytes.length);
      bytes[offset] ^= 1 << random(8);
      writeFileSync(file, bytes);
      const first = await recoverOrError(dir);
      if (first.err) {
        refused++;
        expect(isRebindError(first.err) && first.err.code, first.err.message).toBe('DATA_DAMAGED');
        const at = Number(/is damaged at byte (\d+)/.exec(first.err.message)?.[1]);
        expect(first.err.message).toContain(dir);
        expect(at).toBeLessThanOrEqual(offset);
        expect(first.err.message).toMatch(/\d+ transaction record\(s\) follow the damage/);
        expect(readFileSync(file)).toEqual(bytes); // refused: nothing changed
        const repaired = await recoverOrError(dir, true);
        expect(repaired.err).toBeUndefined();
        const { state, report, p } = repaired as Required<typeof repaired>;
        await p!.abandon();
        expect(state).toEqual(states[state.n]);
        expect(report.lost).toBe(120 - state.n);
        // The damaged file, as it was, is in the damaged-<time>/ folder.
        expect(readFileSync(path.join(report.setAside!, name))).toEqual(bytes);
      } else {
        await first.p!.abandon();
        expect(first.state, `${name} flipped at ${offset}`).toEqual(states[120]);
      }
    }
    expect(refused).toBeGreaterThan(3);
  });

  it('journals set aside never come back: a repair, more writes past their numbers, a crash, a restart', async () => {
    const dir = tempDir();
    await history(dir);
    // The newest snapshot unreadable and a record in the middle of journal-40 flipped:
    // the only way back is snapshot-40 + journal-40 + journal-80, and journal-40 is damaged.
    const snap = path.join(dir, 'snapshot-000000000080.bin');
    writeFileSync(snap, Buffer.from('not a snapshot'));
    const j40 = path.join(dir, 'journal-000000000040.bin');
    const bytes = readFileSync(j40);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(j40, bytes);
    const refused = await recoverOrError(dir);
    expect(refused.err?.message).toContain(`${j40} is damaged at byte`);
    expect(refused.err?.message).toMatch(/in it and in 1 later journal/);
    const repaired = await recoverOrError(dir, true);
    const { w, p, report, state } = repaired as Required<typeof repaired>;
    expect(state.n).toBeGreaterThan(40);
    expect(state.n).toBeLessThan(80);
    expect(readdirSync(report.setAside!).sort()).toEqual(['journal-000000000040.bin', 'journal-000000000080.bin', 'snapshot-000000000080.bin']);
    // A new history, going well past transaction 80, then a crash.
    const states: State[] = [];
    states[state.n] = state;
    commit(w, state.n + 1, state.n + 100, states);
    await p.durable();
    await p.abandon();
    const again = await recoverOrError(dir);
    expect(again.err).toBeUndefined();
    await again.p!.abandon();
    expect(again.state).toEqual(states[state.n + 100]);
    expect(again.report!.repairs).toEqual([]);
    expect(existsSync(path.join(report.setAside!, 'journal-000000000080.bin'))).toBe(true);
  });

  it('a snapshot under another number (copied or renamed) is refused, not used to skip or repeat transactions', async () => {
    const dir = tempDir();
    await history(dir);
    copyFileSync(path.join(dir, 'snapshot-000000000040.bin'), path.join(dir, 'snapshot-000000000200.bin'));
    const refused = await recoverOrError(dir);
    expect(refused.err?.message).toMatch(/snapshot-000000000200\.bin is damaged at byte 0: its header says it holds transactions up to 40, its name says 200/);
  });

  it('temp files of interrupted snapshots are removed at start; pruning keeps two readable snapshots and sets an unreadable one aside', async () => {
    const dir = tempDir();
    const w = world();
    const p = new Persistence(dir, w.registry, 'always');
    await p.recover();
    commit(w, 1, 5, []);
    await p.snapshot();
    commit(w, 6, 10, []);
    await p.snapshot();
    await p.abandon();
    writeFileSync(path.join(dir, 'snapshot-000000000010.bin.tmp-4242'), 'half');
    writeFileSync(path.join(dir, 'snapshot-000000000010.bin'), 'garbage'); // falls back to snapshot-5 + journal-5
    const q = await recoverOrError(dir);
    expect(q.err).toBeUndefined();
    expect(q.state!.n).toBe(10);
    expect(q.report!.repairs.join('\n')).toMatch(/removed snapshot-000000000010\.bin\.tmp-4242/);
    expect(existsSync(path.join(dir, 'snapshot-000000000010.bin.tmp-4242'))).toBe(false);
    commit(q.w!, 11, 12, []);
    await q.p!.snapshot();
    await q.p!.close();
    const snapshots = readdirSync(dir).filter((f) => f.startsWith('snapshot-')).sort();
    expect(snapshots).toEqual(['snapshot-000000000005.bin', 'snapshot-000000000012.bin']);
    const aside = readdirSync(dir).filter((f) => f.startsWith('damaged-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(dir, aside[0]!, 'snapshot-000000000010.bin'), 'utf8')).toBe('garbage');
  });
});

describe('what the journal and snapshots keep exactly', () => {
  it('a recovery from journals alone restores each store’s data version (a later declaration does not relabel old data)', async () => {
    const dir = tempDir();
    const declare = (version: number) => {
      const registry = new StoreRegistry();
      const heroes = defineTable<{ name: string }>('heroes', { version });
      registry.add(heroes, 'test');
      return { registry, heroes };
    };
    const v1 = declare(1);
    const p = new Persistence(dir, v1.registry, 'always');
    await p.recover();
    v1.heroes.set('h1', { name: 'Ada Lovelace' });
    await p.durable();
    await p.abandon(); // a crash before any snapshot
    const v2 = declare(2); // the state file now says version 2, with a migration keyed 1 to come
    const q = new Persistence(dir, v2.registry, 'always');
    await q.recover();
    expect(v2.heroes.version).toBe(1);
    expect(v2.heroes.get('h1')).toEqual({ name: 'Ada Lovelace' });
    await q.abandon();
  });

  it('any string is a key: __proto__, constructor, toString as row ids and object keys, through the journal and a snapshot', async () => {
    const dir = tempDir();
    const make = () => {
      const registry = new StoreRegistry();
      const table = defineTable<Record<string, unknown>>('things');
      const value = defineStore('value', { map: {} as Record<string, unknown> });
      registry.add(table, 'test');
      registry.add(value, 'test');
      return { registry, table, value };
    };
    const tricky = () => JSON.parse('{"__proto__": {"x": 1}, "constructor": "c", "toString": 3, "__proto_": "near", "hasOwnProperty": null}') as Record<string, unknown>;
    const a = make();
    const p = new Persistence(dir, a.registry, 'always');
    await p.recover();
    for (const id of ['__proto__', 'constructor', 'toString', 'valueOf']) a.table.set(id, tricky());
    a.value.update((d) => void (d.map = tricky()));
    await p.durable();
    await p.abandon();
    const expectRoundTrip = (b: ReturnType<typeof make>) => {
      for (const id of ['__proto__', 'constructor', 'toString', 'valueOf']) {
        const row = b.table.get(id)!;
        expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
        expect(Object.keys(row).sort()).toEqual(['__proto_', '__proto__', 'constructor', 'hasOwnProperty', 'toString']);
        expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toEqual({ x: 1 });
      }
      expect(Object.keys(b.value.get().map).sort()).toEqual(['__proto_', '__proto__', 'constructor', 'hasOwnProperty', 'toString']);
      expect(({} as Record<string, unknown>).x).toBeUndefined(); // nothing leaked into Object.prototype
    };
    const b = make();
    const q = new Persistence(dir, b.registry, 'always');
    await q.recover(); // from the journal
    expectRoundTrip(b);
    await q.close(); // a snapshot
    const c = make();
    const r = new Persistence(dir, c.registry, 'always');
    const report = await r.recover();
    expect(report.snapshot).toMatch(/^snapshot-/);
    expectRoundTrip(c);
    await r.abandon();
  });
});

describe('damage seen from the command line', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it('a damaged journal stops `npm start` with file, offset and the way out; `--repair` starts and says what was lost', async () => {
    const p = marksProject(cleanups);
    const first = await startMarks(p, 'always', cleanups);
    const c = new RebindClient(first.gameUrl, { reconnect: false });
    await c.connect();
    await c.join({ name: 'ann' });
    for (let k = 1; k <= 30; k++) await c.call('marks.put', { k });
    c.close();
    await first.kill();
    const journal = readdirSync(p.path('data')).find((f) => f.startsWith('journal-'))!;
    const file = p.path(`data/${journal}`);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 3)] ^= 0x20;
    writeFileSync(file, bytes);
    const refused = await startMarks(p, 'always', cleanups).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/exited with 1 before listening/);
    expect(refused).toContain(`DATA_DAMAGED`);
    expect(refused).toMatch(new RegExp(`${journal} is damaged at byte \\d+`));
    expect(refused).toContain('--repair');
    const repaired = await startMarks(p, 'always', cleanups, p.path('data'), ['--repair']);
    // Warnings may come after the listening lines.
    await waitFor(() => /--repair: \d+ transaction\(s\) lost; the damaged files are kept in .*damaged-/.test(repaired.output()), 5000, 'the --repair summary');
    const k = (await readMarks(repaired))['p-ann']?.k ?? 0;
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(30);
    expect(await repaired.stop()).toBe(0);
  }, 60_000);
});
