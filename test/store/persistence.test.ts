import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { isRebindError } from '../../server/errors.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { transact } from '../../server/store/transaction.ts';
import { tempDirs } from './temp-dirs.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

const tempDir = tempDirs('rebind-data-');

/** A fresh world: the same store declarations a restarted server would load. */
function world() {
  const registry = new StoreRegistry();
  const counter = defineStore('counter', { n: 0, names: [] as string[] });
  const players = defineTable<{ hp: number }>('players');
  registry.add(counter, 'test');
  registry.add(players, 'test');
  return { registry, counter, players };
}

async function writeHistory(dir: string, transactions: number) {
  const w = world();
  const p = new Persistence(dir, w.registry, 'always');
  await p.recover();
  for (let i = 1; i <= transactions; i++) {
    transact(() => {
      w.counter.update((d) => {
        d.n = i;
        d.names.push(`t${i}`);
      });
      w.players.set(`p${i % 3}`, { hp: i });
    });
    await p.flushed();
  }
  const states = { counter: w.counter.get(), players: w.players.toObject() };
  await p.abandon();
  return states;
}

function journalOf(dir: string): string {
  return path.join(dir, readdirSync(dir).find((f) => f.startsWith('journal-'))!);
}

describe('journal and recovery', () => {
  it('recovers every committed transaction after a crash (no snapshot, journal only)', async () => {
    const dir = tempDir();
    const before = await writeHistory(dir, 20);
    const w = world();
    const p = new Persistence(dir, w.registry, 'always');
    const report = await p.recover();
    expect(report).toMatchObject({ snapshot: null, journalRecords: 20, repairs: [] });
    expect(w.counter.get()).toEqual(before.counter);
    expect(w.players.toObject()).toEqual(before.players);
    await p.close();
  });

  it('recovers the valid prefix of a journal cut at every byte of its last record, and says so', async () => {
    const dir = tempDir();
    await writeHistory(dir, 5);
    const journal = journalOf(dir);
    const full = readFileSync(journal);
    // Walk the length prefixes to find where the last record starts.
    const probe = tempDir();
    const lengths: number[] = [];
    for (let at = 0; at < full.length; ) {
      const len = full.readUInt32LE(at) + 8;
      lengths.push(len);
      at += len;
    }
    const lastStart = full.length - lengths.at(-1)!;
    for (let cut = lastStart + 1; cut < full.length; cut++) {
      rmSync(probe, { recursive: true, force: true });
      const copy = path.join(probe, path.basename(journal));
      mkdirSync(probe, { recursive: true });
      copyFileSync(journal, copy);
      truncateSync(copy, cut);
      const w = world();
      const p = new Persistence(probe, w.registry, 'off');
      const report = await p.recover();
      expect(w.counter.get().n).toBe(4);
      expect(report.journalRecords).toBe(4);
      expect(report.repairs).toHaveLength(1);
      expect(report.repairs[0]).toContain(`the tail a crash left`);
      expect(report.repairs[0]).toContain(`cut at byte ${lastStart} of ${cut}`);
      expect(readFileSync(copy).length).toBe(lastStart);
      await p.abandon();
    }
  });

  it('refuses a record with flipped bits followed by valid ones, naming file, offset and what follows; --repair sets it aside', async () => {
    const dir = tempDir();
    await writeHistory(dir, 6);
    const journal = journalOf(dir);
    const bytes = readFileSync(journal);
    let at = 0;
    const starts: number[] = [];
    while (at < bytes.length) {
      starts.push(at);
      at += bytes.readUInt32LE(at) + 8;
    }
    // starts[0] is the journal's header; starts[4] is the 4th transaction.
    bytes[starts[4]! + 12] ^= 0xff;
    writeFileSync(journal, bytes);
    const p = new Persistence(dir, world().registry, 'off');
    const err = await p.recover().then(() => undefined, (e: unknown) => e);
    expect(isRebindError(err) && err.code).toBe('DATA_DAMAGED');
    expect((err as Error).message).toContain(`${journal} is damaged at byte ${starts[4]}`);
    expect((err as Error).message).toContain('2 transaction record(s) follow the damage');
    expect(readFileSync(journal)).toEqual(bytes); // nothing changed
    const w = world();
    const q = new Persistence(dir, w.registry, 'off', { repair: true });
    const report = await q.recover();
    expect(w.counter.get().n).toBe(3);
    expect(report.lost).toBe(3);
    expect(readFileSync(path.join(report.setAside!, path.basename(journal)))).toEqual(bytes);
    expect(readFileSync(journal)).toEqual(bytes.subarray(0, starts[4]));
    await q.abandon();
  });

  it('falls back to the snapshot before a corrupt one, and replays the journals after it', async () => {
    const dir = tempDir();
    const w = world();
    const p = new Persistence(dir, w.registry, 'off');
    await p.recover();
    w.counter.update((d) => void (d.n = 1));
    await p.snapshot();
    w.counter.update((d) => void (d.n = 2));
    await p.snapshot();
    w.counter.update((d) => void (d.n = 3));
    await p.flushed();
    await p.abandon();
    const snaps = readdirSync(dir).filter((f) => f.startsWith('snapshot-')).sort();
    expect(snaps).toHaveLength(2);
    const newest = path.join(dir, snaps[1]!);
    const bytes = readFileSync(newest);
    bytes[bytes.length - 3] ^= 0x55;
    writeFileSync(newest, bytes);
    const again = world();
    const q = new Persistence(dir, again.registry, 'off');
    const report = await q.recover();
    expect(report.snapshot).toBe(snaps[0]);
    expect(report.repairs[0]).toContain(`${snaps[1]} is unreadable`);
    expect(again.counter.get().n).toBe(3);
    await q.abandon();
  });

  it('writes a large table in chunks and reads it back whole, with the versions', async () => {
    const dir = tempDir();
    const w = world();
    const p = new Persistence(dir, w.registry, 'off');
    await p.recover();
    transact(() => {
      for (let i = 0; i < 5500; i++) w.players.set(`p${i}`, { hp: i });
      w.counter.update((d) => void (d.n = 42));
    });
    w.players.version = 3;
    const snap = await p.snapshot();
    expect(snap.bytes).toBeGreaterThan(5500 * 8);
    await p.abandon();
    const again = world();
    const q = new Persistence(dir, again.registry, 'off');
    expect(await q.recover()).toMatchObject({ snapshot: snap.file, journalRecords: 0, repairs: [] });
    expect(again.players.size).toBe(5500);
    expect(again.players.get('p5499')).toEqual({ hp: 5499 });
    expect(again.players.version).toBe(3);
    expect(again.counter.get().n).toBe(42);
    await q.abandon();
  });

  it('refuses to start when snapshots exist but none can be read, rather than start an empty world', async () => {
    const dir = tempDir();
    const w = world();
    const p = new Persistence(dir, w.registry, 'off');
    await p.recover();
    w.counter.update((d) => void (d.n = 7));
    await p.close();
    for (const f of readdirSync(dir)) if (f.startsWith('snapshot-')) writeFileSync(path.join(dir, f), 'garbage');
    // Pruning removes the journal from the beginning once it is not needed (at once, or at the next snapshot).
    rmSync(path.join(dir, 'journal-000000000000.bin'), { force: true });
    const q = new Persistence(dir, world().registry, 'off');
    let err: unknown;
    try {
      await q.recover();
    } catch (e) {
      err = e;
    }
    expect(isRebindError(err) && err.code).toBe('DATA_DAMAGED');
    expect((err as Error).message).toMatch(/snapshot-\d+\.bin is damaged at byte 0/);
  });
});
