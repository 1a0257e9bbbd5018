import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// The admin token: REBIND_ADMIN_TOKEN, or one generated at first start into
// <data>/admin.token, readable by its owner only.

export interface AdminToken {
  value: string;
  /** Where it came from, for messages: the variable's name or the file's path. */
  source: string;
}

export const TOKEN_FILE = 'admin.token';

export function loadOrCreateToken(dataDir: string, env = process.env): AdminToken {
  const fromEnv = env.REBIND_ADMIN_TOKEN?.trim();
  if (fromEnv) return { value: fromEnv, source: 'REBIND_ADMIN_TOKEN' };
  const file = path.join(dataDir, TOKEN_FILE);
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (value.length >= 16) return { value, source: file };
  }
  mkdirSync(dataDir, { recursive: true });
  const value = randomBytes(32).toString('base64url');
  writeFileSync(file, value + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { value, source: file };
}

/** Compares in constant time, whatever the lengths. */
export function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
