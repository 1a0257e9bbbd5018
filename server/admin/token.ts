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

/** Shorter tokens can be guessed: warned about from the variable, replaced in the file. */
export const MIN_TOKEN_LENGTH = 16;

export function loadOrCreateToken(dataDir: string, env = process.env): AdminToken {
  const fromEnv = env.REBIND_ADMIN_TOKEN?.trim();
  if (fromEnv) {
    // Used as given (a test setup may want a short one), but said out loud: it can be guessed.
    if (fromEnv.length < MIN_TOKEN_LENGTH) {
      createLogger('admin').warn(`REBIND_ADMIN_TOKEN is only ${fromEnv.length} characters: anyone who guesses it can patch this server; use at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -base64 32)`);
    }
    return { value: fromEnv, source: 'REBIND_ADMIN_TOKEN' };
  }
  const file = path.join(dataDir, TOKEN_FILE);
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (value.length >= MIN_TOKEN_LENGTH) {
      warnIfShared(file);
      return { value, source: file };
    }
    createLogger('admin').warn(`${file} held a token of ${value.length} characters, under the minimum of ${MIN_TOKEN_LENGTH}: replaced with a new random token (clients using the old one must read the file again)`);
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
