import { mkdtempSync, mkdirSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// A throwaway game project on disk: state/ and logic/ files written for real,
// removed when the test is done.

export class TempProject {
  readonly root: string;

  constructor(files: Record<string, string> = {}) {
    this.root = mkdtempSync(path.join(tmpdir(), 'rebind-test-'));
    mkdirSync(path.join(this.root, 'state'));
    mkdirSync(path.join(this.root, 'logic'));
    for (const [rel, text] of Object.entries(files)) this.write(rel, text);
  }

  path(rel: string): string {
    return path.join(this.root, rel);
  }

  write(rel: string, text: string): string {
    const file = this.path(rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  }

  remove(rel: string): void {
    unlinkSync(this.path(rel));
  }

  cleanup(): void {
    // Retried: a child process that just exited may still have a file open or be finishing a write in the folder.
    rmSync(this.root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}

/** A counter store most tests share. */
export const COUNTER_STATE = `
import { defineStore } from '../server/api';
export const counter = defineStore('counter', { n: 0, log: [] as string[] }, { version: 1 });
`;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or `ms` pass; a check that throws counts as not yet. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(10);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
