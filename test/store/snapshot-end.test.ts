import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRebindError } from '../../server/errors.ts';
import { frame, readFramed, scanFramed } from '../../server/store/journal.ts';
import { history, recoverOrError } from './fault-model.ts';
import { tempDirs } from './temp-dirs.ts';

// A snapshot cut at a record boundary has only valid records: without an end
// record counting what it holds it would load as if complete, a store
// missing its data coming back empty. It must be refused like a cut in the
// middle of a record: the older snapshot and the journals after it are used.

const tempDir = tempDirs('rebind-snapend-');


function copyDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) copyFileSync(path.join(from, f), path.join(to, f));
}

/** The byte offsets where the records of a framed file end. */
function boundaries(bytes: Buffer): number[] {
  const ends: number[] = [];
  scanFramed(bytes, (_r, offset) => void ends.push(offset));
  ends.push(bytes.length);
  return ends.slice(1);
}

describe('a snapshot ends with a record counting what it holds', () => {
  it('cut at any record boundary: refused, and the older snapshot with the journals after it gives every transaction', async () => {
    const pristine = tempDir();
    const states = await history(pristine);
    const name = 'snapshot-000000000080.bin';
    const bytes = readFileSync(path.join(pristine, name));
    const cuts = boundaries(bytes).filter((b) => b < bytes.length);
    expect(cuts.length).toBeGreaterThanOrEqual(2);
    for (const cut of cuts) {
      const dir = tempDir();
      copyDir(pristine, dir);
      writeFileSync(path.join(dir, name), bytes.subarray(0, cut));
      const r = await recoverOrError(dir);
      expect(r.err, r.err?.message).toBeUndefined();
      expect(r.report!.snapshot, `cut at ${cut}`).toBe('snapshot-000000000040.bin');
      expect(r.report!.repairs.join('\n')).toMatch(/snapshot-000000000080\.bin is unreadable/);
      expect(r.state, `cut at ${cut}`).toEqual(states[120]);
    }
  });

  it('an end record that disagrees with what the snapshot holds is refused', async () => {
    const pristine = tempDir();
    const states = await history(pristine);
    const name = 'snapshot-000000000080.bin';
    const records = readFramed(readFileSync(path.join(pristine, name))).records as Array<Record<string, unknown>>;
    const end = records.at(-1)!;
    expect(end).toMatchObject({ end: true, stores: 2, rows: 80 });
    const dir = tempDir();
    copyDir(pristine, dir);
    writeFileSync(path.join(dir, name), Buffer.concat([...records.slice(0, -1), { ...end, rows: 81 }].map((r) => frame(r))));
    const r = await recoverOrError(dir);
    expect(r.report!.snapshot).toBe('snapshot-000000000040.bin');
    expect(r.report!.repairs.join('\n')).toMatch(/end record counts/);
    expect(r.state).toEqual(states[120]);
  });

  it('a format-2 snapshot (before the end record) is read, with a warning; one missing a store named in its header is refused', async () => {
    const pristine = tempDir();
    const states = await history(pristine);
    const name = 'snapshot-000000000080.bin';
    const records = readFramed(readFileSync(path.join(pristine, name))).records as Array<Record<string, unknown>>;
    const old = [{ ...records[0]!, format: 2 }, ...records.slice(1, -1)];
    const dir = tempDir();
    copyDir(pristine, dir);
    writeFileSync(path.join(dir, name), Buffer.concat(old.map((r) => frame(r))));
    const r = await recoverOrError(dir);
    expect(r.report!.snapshot).toBe(name);
    expect(r.report!.repairs.join('\n')).toMatch(/older version \(snapshot format 2/);
    expect(r.state).toEqual(states[120]);
    // The last store's data records dropped: the header still names it.
    const lastStore = (old.at(-1) as { s: string }).s;
    const dir2 = tempDir();
    copyDir(pristine, dir2);
    writeFileSync(path.join(dir2, name), Buffer.concat(old.filter((r) => (r as { s?: string }).s !== lastStore).map((r) => frame(r))));
    const r2 = await recoverOrError(dir2);
    expect(r2.report!.snapshot).toBe('snapshot-000000000040.bin');
    expect(r2.report!.repairs.join('\n')).toMatch(/no data for the store/);
    expect(r2.state).toEqual(states[120]);
  });

  it('with no older snapshot to fall back on, a cut snapshot stops the start (DATA_DAMAGED), it is not loaded', async () => {
    const pristine = tempDir();
    await history(pristine);
    const dir = tempDir();
    copyDir(pristine, dir);
    for (const f of readdirSync(dir)) if (f.startsWith('snapshot-000000000040') || f.startsWith('journal-000000000040')) rmSync(path.join(dir, f));
    const name = 'snapshot-000000000080.bin';
    const bytes = readFileSync(path.join(dir, name));
    writeFileSync(path.join(dir, name), bytes.subarray(0, boundaries(bytes).at(-2)));
    const r = await recoverOrError(dir);
    expect(r.err && isRebindError(r.err) && r.err.code, r.err?.message).toBe('DATA_DAMAGED');
  });
});
