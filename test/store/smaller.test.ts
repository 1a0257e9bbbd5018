import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/admin/audit.ts';
import { isRebindError } from '../../server/errors.ts';
import { Disk } from '../../server/store/io.ts';
import { scanFramed } from '../../server/store/journal.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { transact } from '../../server/store/transaction.ts';
import { history, recoverOrError, world } from './fault-model.ts';
import { tempDirs } from './temp-dirs.ts';

const tempDir = tempDirs('rebind-smaller-');

describe('a snapshot the disk refuses', () => {
  for (const code of ['ENOSPC', 'EIO'] as const) {
    it(`${code}: PERSIST_ERROR naming the data folder (not BAD_REQUEST with the bare errno)`, async () => {
      const dir = tempDir();
      const disk = new Disk();
      const w = world();
      const p = new Persistence(dir, w.registry, 'always', { disk });
      await p.recover();
      transact(() => w.rows.set('a', { i: 1, pad: '' }));
      await p.durable();
      disk.plan = (call) => (call.file.includes('snapshot') && call.op === 'write' ? { error: code } : undefined);
      const err = await p.snapshot().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRebindError(err) && err.code).toBe('PERSIST_ERROR');
      expect((err as Error).message).toContain(dir);
      expect((err as Error).message).toContain(code);
      disk.plan = undefined;
      await p.abandon();
    });
  }
});

describe('the audit log of a data folder moved away', () => {
  it('is not written into the folder now at the old path', () => {
    const root = tempDir();
    const dir = path.join(root, 'data');
    mkdirSync(dir);
    const audit = new AuditLog(dir);
    audit.write({ action: 'snapshot', origin: 'cli', ok: true });
    expect(readFileSync(path.join(dir, 'audit.log'), 'utf8')).toMatch(/snapshot/);
    renameSync(dir, path.join(root, 'moved'));
    mkdirSync(dir);
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      audit.write({ action: 'call', origin: 'cli', ok: true });
    } finally {
      process.stdout.write = original;
    }
    expect(existsSync(path.join(dir, 'audit.log'))).toBe(false);
    expect(readFileSync(path.join(root, 'moved', 'audit.log'), 'utf8')).not.toMatch(/"call"/);
  });
});


/** The journal's records with their byte ranges. */
function records(bytes: Buffer): Array<{ at: number; end: number; q?: number }> {
  const out: Array<{ at: number; end: number; q?: number }> = [];
  scanFramed(bytes, (record, at) => void out.push({ at, end: 0, q: (record as { q?: number }).q }));
  out.forEach((r, i) => (r.end = out[i + 1]?.at ?? bytes.length));
  return out;
}

describe('the journals replayed first', () => {
  it('a record duplicated in the first journal replayed is damage, not skipped', async () => {
    const dir = tempDir();
    await history(dir);
    const file = path.join(dir, 'journal-000000000080.bin');
    const bytes = readFileSync(file);
    const r85 = records(bytes).find((r) => r.q === 85)!;
    writeFileSync(file, Buffer.concat([bytes.subarray(0, r85.end), bytes.subarray(r85.at, r85.end), bytes.subarray(r85.end)]));
    const r = await recoverOrError(dir);
    expect(r.err && isRebindError(r.err) && r.err.code, r.err?.message).toBe('DATA_DAMAGED');
    expect(r.err!.message).toMatch(/transaction 85 where 86 should follow/);
  });

  it('a first journal that begins before the snapshot: the records the snapshot holds are skipped, the rest replayed', async () => {
    const dir = tempDir();
    const states = await history(dir);
    // Without snapshot 80, snapshot 40 is the base; journal 40 (41..80) and journal 80 follow.
    rmSync(path.join(dir, 'snapshot-000000000080.bin'));
    const r = await recoverOrError(dir);
    expect(r.err).toBeUndefined();
    expect(r.state).toEqual(states[120]);
  });

  it('an empty (0-byte) newest journal is reported, not silent', async () => {
    const dir = tempDir();
    const states = await history(dir);
    truncateSync(path.join(dir, 'journal-000000000080.bin'), 0);
    const r = await recoverOrError(dir);
    expect(r.err).toBeUndefined();
    expect(r.state).toEqual(states[80]);
    expect(r.report!.repairs.join('\n')).toMatch(/journal-000000000080\.bin is empty \(0 bytes/);
  });
});

describe('the newest journal removed', () => {
  it('is reported (no journal follows the newest snapshot), not silent', async () => {
    const dir = tempDir();
    const states = await history(dir);
    rmSync(path.join(dir, 'journal-000000000080.bin'));
    const r = await recoverOrError(dir);
    expect(r.err).toBeUndefined();
    expect(r.state).toEqual(states[80]);
    expect(r.report!.repairs.join('\n')).toMatch(/no journal follows snapshot-000000000080\.bin/);
  });

  it('a clean stop leaves a journal after its final snapshot: nothing reported at the next start', async () => {
    const dir = tempDir();
    const w = world();
    const p = new Persistence(dir, w.registry, 'always');
    await p.recover();
    transact(() => w.rows.set('a', { i: 1, pad: '' }));
    await p.close();
    const r = await recoverOrError(dir);
    expect(r.report!.repairs).toEqual([]);
  });
});
