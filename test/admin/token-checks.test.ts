import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { loadOrCreateToken, MIN_TOKEN_LENGTH } from '../../server/admin/token.ts';

// A short admin token can be guessed: one from REBIND_ADMIN_TOKEN is used but
// warned about; a short one in admin.token is replaced, and the log says so.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function captureLog<T>(run: () => T): { result: T; text: string } {
  let text = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  });
  try {
    return { result: run(), text };
  } finally {
    spy.mockRestore();
  }
}

function dataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rebind-token-'));
  dirs.push(dir);
  return dir;
}

it('uses a short REBIND_ADMIN_TOKEN but warns that it can be guessed', () => {
  const { result, text } = captureLog(() => loadOrCreateToken(dataDir(), { REBIND_ADMIN_TOKEN: 'abc' }));
  expect(result).toEqual({ value: 'abc', source: 'REBIND_ADMIN_TOKEN' });
  expect(text).toMatch(new RegExp(`REBIND_ADMIN_TOKEN is only 3 characters.*at least ${MIN_TOKEN_LENGTH}`));
});

it('says nothing about a long enough REBIND_ADMIN_TOKEN', () => {
  const { text } = captureLog(() => loadOrCreateToken(dataDir(), { REBIND_ADMIN_TOKEN: 'x'.repeat(MIN_TOKEN_LENGTH) }));
  expect(text).not.toMatch(/REBIND_ADMIN_TOKEN/);
});

it('replaces a short admin.token and logs that it did, and why', () => {
  const dir = dataDir();
  writeFileSync(path.join(dir, 'admin.token'), 'short\n', { mode: 0o600 });
  const { result, text } = captureLog(() => loadOrCreateToken(dir, {}));
  expect(result.value).not.toBe('short');
  expect(readFileSync(path.join(dir, 'admin.token'), 'utf8').trim()).toBe(result.value);
  expect(text).toMatch(/admin\.token held a token of 5 characters, under the minimum of 16: replaced/);
});
