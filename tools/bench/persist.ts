import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { frame, readFramed } from '../../server/store/journal.ts';
import { Persistence, type FsyncMode } from '../../server/store/persistence.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { transact } from '../../server/store/transaction.ts';
import { ms, type Row } from './table.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

// Durable stores: committed transactions per second under each fsync mode
// (group commit beside one writer at a time), recovery of a million journal
// records, and a snapshot of about 100 MB.

function dir(): string {
  return mkdtempSync(path.join(tmpdir(), 'rebind-bench-data-'));
}

async function commitsPerSecond(mode: FsyncMode, writers: number, seconds: number): Promise<number> {
  const d = dir();
  const registry = new StoreRegistry();
  const table = defineTable<{ n: number }>(`tps-${mode}-${writers}`);
  registry.add(table, 'bench');
  const p = new Persistence(d, registry, mode);
  await p.recover();
  let commits = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (performance.now() < deadline) {
        transact(() => table.set(`w${w}`, { n: commits }));
        const durable = p.durable();
        if (durable) await durable;
        else await new Promise((r) => setImmediate(r));
        commits++;
      }
    }),
  );
  await p.abandon();
  rmSync(d, { recursive: true, force: true });
  return Math.round(commits / seconds);
}

export async function benchPersist(quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const seconds = quick ? 1 : 3;
  const single = await commitsPerSecond('always', 1, seconds);
  const grouped = await commitsPerSecond('always', 200, seconds);
  rows.push({ section: 'persist', what: 'commits/s, fsync always, 200 writers', rebind: `${grouped}/s`, baseline: `${single}/s (one writer: an fsync each)`, goal: '' });
  for (const mode of ['interval', 'off'] as const) {
    rows.push({ section: 'persist', what: `commits/s, fsync ${mode}, 200 writers`, rebind: `${await commitsPerSecond(mode, 200, seconds)}/s`, baseline: '-', goal: '' });
  }

  // Recovery of a million journal records (each a row write), beside only reading and decoding them.
  const records = quick ? 100_000 : 1_000_000;
  const d = dir();
  const fd = openSync(path.join(d, 'journal-000000000000.bin'), 'w');
  const batch: Buffer[] = [];
  for (let q = 1; q <= records; q++) {
    batch.push(frame({ q, c: [['recover', [{ op: q % 1000 === q ? 'add' : 'replace', path: [`p${q % 1000}`], value: { x: q, y: q * 2, name: `player ${q % 1000}` } }]]] }));
    if (batch.length === 10_000) writeSync(fd, Buffer.concat(batch.splice(0)));
  }
  if (batch.length) writeSync(fd, Buffer.concat(batch));
  closeSync(fd);
  const t0 = performance.now();
  const decoded = readFramed(readFileSync(path.join(d, 'journal-000000000000.bin'))).records.length;
  const decodeMs = performance.now() - t0;
  const registry = new StoreRegistry();
  registry.add(defineTable('recover'), 'bench');
  const p = new Persistence(d, registry, 'off');
  const report = await p.recover();
  if (report.journalRecords !== records || decoded !== records) throw new Error(`recovered ${report.journalRecords} of ${records}`);
  rows.push({ section: 'persist', what: `recovery of ${records.toLocaleString('en')} journal records`, rebind: ms(report.ms), baseline: `${ms(decodeMs)} (read + decode only)`, goal: '' });
  await p.abandon();
  rmSync(d, { recursive: true, force: true });

  // A snapshot of about 100 MB of state, beside JSON.stringify + writeFile of the same data.
  const big = dir();
  const bigRegistry = new StoreRegistry();
  const world = defineTable<{ name: string; bio: string; stats: number[] }>('world');
  bigRegistry.add(world, 'bench');
  const rowsCount = quick ? 20_000 : 230_000;
  transact(() => {
    for (let i = 0; i < rowsCount; i++) world.set(`e${i}`, { name: `entity ${i}`, bio: 'x'.repeat(400), stats: [i, i * 2, i * 3, i % 7, i % 11] });
  });
  const store = new Persistence(big, bigRegistry, 'off');
  await store.recover();
  // How long the event loop is held while the snapshot is written (the game's stall).
  let longestStall = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    longestStall = Math.max(longestStall, now - last);
    last = now;
  }, 1);
  const snap = await store.snapshot();
  clearInterval(probe);
  const t1 = performance.now();
  writeFileSync(path.join(big, 'baseline.json'), JSON.stringify(world.snapshot()));
  const jsonMs = performance.now() - t1;
  const jsonBytes = statSync(path.join(big, 'baseline.json')).size;
  rows.push({ section: 'persist', what: `snapshot of ${rowsCount.toLocaleString('en')} rows`, rebind: `${ms(snap.ms)}, ${(snap.bytes / 2 ** 20).toFixed(0)} MB`, baseline: `${ms(jsonMs)}, ${(jsonBytes / 2 ** 20).toFixed(0)} MB (JSON, no fsync)`, goal: '' });
  rows.push({ section: 'persist', what: 'longest event-loop stall during that snapshot', rebind: ms(longestStall), baseline: `${ms(jsonMs)} (JSON: all of it)`, goal: '' });
  await store.abandon();
  rmSync(big, { recursive: true, force: true });
  return rows;
}
