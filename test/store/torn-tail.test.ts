import { readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Disk } from '../../server/store/io.ts';
import { readFramed } from '../../server/store/journal.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { transact } from '../../server/store/transaction.ts';
import { world } from './fault-model.ts';
import { tempDirs } from './temp-dirs.ts';
import { asciiFrame } from './ascii-frame.ts';

// What a full disk leaves at the end of the journal (a record cut short) is
// a torn tail, whatever the cut record holds: a player's text made of valid
// frames must not turn it into "damage" that stops the next start. And a
// server stopped while its disk is full leaves a journal valid to its end.

const tempDir = tempDirs('rebind-torn-');

const journalOf = (dir: string) => path.join(dir, readdirSync(dir).filter((f) => f.startsWith('journal-')).sort().at(-1)!);

describe('a torn tail is cut, whatever the torn record holds', () => {
  it('rows whose text holds valid frames, the last record cut in the middle of that text: the start cuts it, no DATA_DAMAGED', async () => {
    const dir = tempDir();
    const evil = asciiFrame().repeat(230);
    const w = world();
    const p = new Persistence(dir, w.registry, 'always');
    await p.recover();
    for (let i = 1; i <= 5; i++) transact(() => w.rows.set(`e${i}`, { i, pad: evil }));
    await p.durable();
    const before = statSync(journalOf(dir)).size;
    const expected = w.state();
    transact(() => w.rows.set('e6', { i: 6, pad: evil }));
    await p.durable();
    await p.abandon();
    const file = journalOf(dir);
    const after = statSync(file).size;
    truncateSync(file, before + Math.floor((after - before) / 2));
    const again = world();
    const q = new Persistence(dir, again.registry, 'always');
    const report = await q.recover();
    await q.abandon();
    expect(again.state()).toEqual(expected);
    expect(report.repairs.join('\n')).toMatch(/cut at byte/);
  });

  it('stopped (SIGTERM) while the disk is full, with a record half written: the journal is valid to its end, nothing acknowledged is lost', async () => {
    const dir = tempDir();
    const disk = new Disk();
    const w = world();
    const p = new Persistence(dir, w.registry, 'always', { disk, retryMs: 1 });
    await p.recover();
    for (let i = 1; i <= 5; i++) transact(() => w.rows.set(`r${i}`, { i, pad: 'x'.repeat(500) }));
    await p.durable();
    const acked = w.state();
    // The disk fills up: 100 bytes free. Each attempt (after cutting back what the last one left) writes 100 bytes, then ENOSPC.
    let writes = 0;
    disk.plan = (call) => (call.op === 'write' ? (writes++ % 2 === 0 ? { short: 100 } : { error: 'ENOSPC' }) : call.op === 'open' && call.file.includes('snapshot') ? { error: 'ENOSPC' } : undefined);
    transact(() => w.rows.set('r6', { i: 6, pad: 'x'.repeat(500) }));
    await expect(p.durable()).rejects.toThrow(/PERSIST_ERROR|cannot be written/);
    await p.close();
    const file = journalOf(dir);
    const read = readFramed(readFileSync(file));
    expect(read.problem).toBeUndefined();
    const again = world();
    const q = new Persistence(dir, again.registry, 'always');
    const report = await q.recover();
    await q.abandon();
    expect(report.repairs).toEqual([]);
    expect(again.state()).toEqual(acked);
  });
});
