import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/admin/audit.ts';
import { tempDirs } from './temp-dirs.ts';

const tempDir = tempDirs('rebind-audit-');

describe('the audit log on a failing disk', () => {
  it('a line that cannot be appended is reported, and the action that was done stays done', () => {
    const dir = tempDir();
    const audit = new AuditLog(dir);
    mkdirSync(path.join(dir, 'audit.log')); // appending to it fails (EISDIR), as a full disk would (ENOSPC)
    const errors: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      errors.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      expect(() => audit.write({ action: 'call', origin: 'cli@127.0.0.1', ok: true, result: 'done' })).not.toThrow();
    } finally {
      process.stdout.write = original;
    }
    // The log (JSON lines here: stdout is not a terminal, and every level goes there) says what failed and keeps the line that was not written.
    const events = errors.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; auditLine?: string });
    const failure = events.find((e) => /could not append to .*audit\.log \(EISDIR/.test(e.msg));
    expect(JSON.parse(failure!.auditLine!)).toMatchObject({ action: 'call', origin: 'cli@127.0.0.1', ok: true });
  });
});
