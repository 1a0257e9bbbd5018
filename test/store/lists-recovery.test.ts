import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { enablePatches, freeze, produce, type Patch } from 'immer';
import { describe, expect, it } from 'vitest';
import { defineStore, defineTable } from '../../server/api.ts';
import { isRebindError } from '../../server/errors.ts';
import type { StorePatch } from '../../server/store/array-delta.ts';
import { journalName } from '../../server/store/data-files.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { frame, readFramed } from '../../server/store/journal.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';
import { tempDirs } from './temp-dirs.ts';

allowStandaloneStores(); // this file makes stores directly, with no server
enablePatches();

const tempDir = tempDirs('rebind-lists-recovery-');

// Journals and trims: a journal from before trims (immer's replace of every
// moved index) still recovers and goes on with trims; a table whose rows are
// themselves arrays trims a row; a trim that names no array stops recovery
// with a clear error instead of corrupting the data.

const START = { log: ['a', 'b', 'c', 'd'] };

function world() {
  const registry = new StoreRegistry();
  const log = defineStore('log', START);
  const feeds = defineTable<string[]>('feeds', { rows: { f: ['1', '2', '3'] } });
  registry.add(log, 'test');
  registry.add(feeds, 'test');
  return { registry, log, feeds };
}

function writeJournal(dir: string, records: Array<Array<[string, StorePatch[]]>>): void {
  const header = frame({ journal: 1, start: 0, versions: [['log', 1], ['feeds', 1]] });
  const body = records.map((c, i) => frame({ q: i + 1, c }));
  writeFileSync(journalName(dir, 0), Buffer.concat([header, ...body]));
}

async function recovered(dir: string) {
  const w = world();
  const p = new Persistence(dir, w.registry, 'always');
  await p.recover();
  return { ...w, p };
}

describe('trims in the journal', () => {
  it('recovers a journal written before trims, then goes on with trims', async () => {
    const dir = tempDir();
    // What an earlier build journaled for two lines pushed to a log that keeps four: a replace per index.
    let value = freeze(START, true);
    const records: Array<Array<[string, StorePatch[]]>> = [];
    for (const line of ['e', 'f']) {
      let patches: Patch[] = [];
      value = produce(
        value,
        (d) => {
          d.log.push(line);
          d.log.shift();
        },
        (p) => (patches = p),
      );
      expect(patches.length).toBe(4); // every index replaced
      records.push([['log', patches]]);
    }
    writeJournal(dir, records);
    const first = await recovered(dir);
    expect(first.log.get()).toEqual({ log: ['c', 'd', 'e', 'f'] });

    const seen: StorePatch[] = [];
    const off = onCommit((changes) => changes.forEach((c) => seen.push(...c.patches)));
    first.log.update((d) => {
      d.log.shift();
      d.log.push('g');
    });
    off();
    expect(seen).toEqual([
      { op: 'trim', path: ['log'], value: 1 },
      { op: 'add', path: ['log', 3], value: 'g' },
    ]);
    await first.p.flushed();
    await first.p.abandon();
    const second = await recovered(dir);
    expect(second.log.get()).toEqual({ log: ['d', 'e', 'f', 'g'] });
    await second.p.close();
  });

  it('journals a transaction with a trim under t, which a build from before trims refuses instead of misreading', async () => {
    const dir = tempDir();
    const w = await recovered(dir);
    w.log.update((d) => void d.log.push('e'));
    w.log.update((d) => {
      d.log.shift();
      d.log.push('f');
    });
    await w.p.flushed();
    await w.p.abandon();
    const records = readFramed(readFileSync(journalName(dir, 0))).records.slice(1) as Array<Record<string, unknown>>;
    expect(records.map((r) => Object.keys(r).sort())).toEqual([
      ['c', 'q'],
      ['q', 't'],
    ]);
    // What the journal reader before trims checked: a record is a transaction if it has q and a list c.
    const readableBefore = (r: Record<string, unknown>) => typeof r.q === 'number' && Array.isArray(r.c);
    expect(records.map(readableBefore)).toEqual([true, false]);
    const again = await recovered(dir);
    expect(again.log.get()).toEqual({ log: ['b', 'c', 'd', 'e', 'f'] });
    await again.p.close();
  });

  it('trims a table row that is itself an array, and recovers it', async () => {
    const dir = tempDir();
    const w = await recovered(dir);
    const seen: StorePatch[] = [];
    const off = onCommit((changes) => changes.forEach((c) => seen.push(...c.patches)));
    transact(() => {
      w.feeds.update('f', (d) => {
        d.splice(0, 2);
        d.push('4', '5');
      });
      w.feeds.set('__proto__', ['x', 'y', 'z']);
      w.feeds.update('__proto__', (d) => {
        d.shift();
        d.push('w');
      });
    });
    off();
    expect(seen.filter((p) => p.op === 'trim')).toEqual([
      { op: 'trim', path: ['f'], value: 2 },
      { op: 'trim', path: ['__proto__'], value: 1 },
    ]);
    await w.p.flushed();
    await w.p.abandon();
    const again = await recovered(dir);
    expect(again.feeds.get('f')).toEqual(['3', '4', '5']);
    expect(again.feeds.get('__proto__')).toEqual(['y', 'z', 'w']);
    await again.p.close();
  });

  it('cuts a torn trim record at the end of the journal (what a crash leaves) and keeps the ones before it', async () => {
    const dir = tempDir();
    writeJournal(dir, [
      [['log', [{ op: 'trim', path: ['log'], value: 1 }, { op: 'add', path: ['log', 3], value: 'e' }]]],
      [['log', [{ op: 'trim', path: ['log'], value: 2 }, { op: 'add', path: ['log', 2], value: 'f' }]]],
    ]);
    const file = journalName(dir, 0);
    truncateSync(file, statSync(file).size - 3);
    const w = world();
    const p = new Persistence(dir, w.registry, 'always');
    const report = await p.recover();
    expect(report.journalRecords).toBe(1);
    expect(report.repairs.join('\n')).toMatch(/cut at byte/);
    expect(w.log.get()).toEqual({ log: ['b', 'c', 'd', 'e'] });
    await p.close();
  });

  it('refuses to start on a trim that names something other than an array, saying where', async () => {
    const dir = tempDir();
    writeJournal(dir, [[['log', [{ op: 'trim', path: [], value: 1 }]]]]);
    const w = world();
    const p = new Persistence(dir, w.registry, 'always');
    const err = await p.recover().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRebindError(err)).toBe(true);
    expect((err as Error).message).toMatch(/trim.*not an array/);
    expect(w.log.get()).toEqual(START);
  });
});
