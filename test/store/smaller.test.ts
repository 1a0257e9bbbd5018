import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/admin/audit.ts';
import { isRebindError } from '../../server/errors.ts';
import { Disk } from '../../server/store/io.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { transact } from '../../server/store/transaction.ts';
import { world } from './fault-model.ts';
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
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      audit.write({ action: 'call', origin: 'cli', ok: true });
    } finally {
      process.stderr.write = original;
    }
    expect(existsSync(path.join(dir, 'audit.log'))).toBe(false);
    expect(readFileSync(path.join(root, 'moved', 'audit.log'), 'utf8')).not.toMatch(/"call"/);
  });
});
