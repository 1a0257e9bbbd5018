import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../log.ts';

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
    if (value.length >= 16) {
      warnIfShared(file);
      return { value, source: file };
    }
  }
  mkdirSync(dataDir, { recursive: true });
  // A fixed prefix: base64url may begin with "-", and such a token passed as `--token <it>` reads as an option.
  const value = `rebind_${randomBytes(32).toString('base64url')}`;
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

/** The token is used as it is (the operator may have reasons), but a copy others can read is said out loud. */
function warnIfShared(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  createLogger('admin').warn(`${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): anyone who can read it can patch this server; fix with: chmod 600 ${file}`);
}
