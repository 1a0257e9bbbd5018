import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// rebind new on a path it cannot use: one line naming the path and why, exit
// 2, never a raw stack (EPERM, ENOENT from a dangling link, ELOOP), and never
// a hang (a recursive mkdir of /proc/x retried without end: 52,000 calls).

const CLI = fileURLToPath(new URL('../../tools/bin-rebind.mjs', import.meta.url));

/** Runs `rebind new`, killed (SIGKILL) after 30 s so that a hang fails the test instead of stalling it. */
function rebindNew(target: string): Promise<{ code: number | null; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, 'new', target], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, 30_000);
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, killed });
    });
  });
}

function oneUsageLine(result: { code: number | null; stderr: string; killed: boolean }, ...expected: string[]): void {
  expect(result.killed, 'rebind new hung').toBe(false);
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  for (const text of expected) expect(lines[0]).toContain(text);
  expect(result.stderr).not.toMatch(/\n\s+at |Error:/);
}

let parent: string;
beforeAll(() => {
  parent = mkdtempSync(path.join(tmpdir(), 'rebind-new-paths-'));
});
afterAll(() => {
  rmSync(parent, { recursive: true, force: true });
});

describe('rebind new on a path it cannot use', () => {
  it.runIf(existsSync('/proc/self'))('/proc/nope and /proc/nope/deeper end at once, saying so', async () => {
    oneUsageLine(await rebindNew('/proc/nope'), 'cannot create the folder /proc/nope', 'pick another folder');
    oneUsageLine(await rebindNew('/proc/nope/deeper'), 'cannot create the folder /proc/nope');
  }, 70_000);

  it.runIf(existsSync('/sys/kernel'))('/sys/nope', async () => {
    oneUsageLine(await rebindNew('/sys/nope'), '/sys/nope', 'pick another folder');
  }, 40_000);

  it('a dangling symbolic link, and a folder under one', async () => {
    const link = path.join(parent, 'dangling');
    symlinkSync(path.join(parent, 'missing-target'), link);
    oneUsageLine(await rebindNew(link), `${link} is a symbolic link to ${path.join(parent, 'missing-target')}, which does not exist`);
    oneUsageLine(await rebindNew(path.join(link, 'game')), `${link} is a symbolic link to`);
    expect(existsSync(path.join(parent, 'missing-target'))).toBe(false);
  }, 40_000);

  it('a loop of symbolic links', async () => {
    const a = path.join(parent, 'loop-a');
    const b = path.join(parent, 'loop-b');
    symlinkSync(b, a);
    symlinkSync(a, b);
    oneUsageLine(await rebindNew(path.join(a, 'game')), `cannot follow ${a}`, 'a loop of symbolic links (ELOOP)');
  }, 40_000);

  it('a symbolic link to a folder is followed, and the game is made there', async () => {
    const real = path.join(parent, 'real');
    const link = path.join(parent, 'to-real');
    symlinkSync(real, link, 'dir');
    // The link's target does not exist yet: refused. Made, the link works.
    oneUsageLine(await rebindNew(path.join(link, 'game')), 'which does not exist');
    mkdirSync(real);
    const made = await rebindNew(path.join(link, 'game'));
    expect(made.code, made.stderr).toBe(0);
    expect(existsSync(path.join(real, 'game', 'package.json'))).toBe(true);
    // Folders missing on the way are made, one level at a time.
    const deep = await rebindNew(path.join(parent, 'fresh', 'deeper', 'game'));
    expect(deep.code, deep.stderr).toBe(0);
    expect(existsSync(path.join(parent, 'fresh', 'deeper', 'game', 'package.json'))).toBe(true);
  }, 60_000);
});
