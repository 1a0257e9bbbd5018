import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { startGame } from 'rebind/testing';

// A test run killed before its stop() (Ctrl-C on npm test) left its copy in
// <game>/.rebind-test/run-* for ever. The next startGame removes the copies
// nobody holds: each run holds a lock on its copy, which the kernel releases
// when the process dies. A copy a live run holds is kept, however old.

const TESTING = fileURLToPath(new URL('../../server/testing.ts', import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), 'rebind-stale-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

for (const [rel, text] of Object.entries({
  'package.json': '{ "name": "g", "type": "module" }\n',
  'state/.keep': '',
  'logic/hello.ts': "import { client } from 'rebind';\nexport const hi = client(() => 'hi');\n",
})) {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
}

/** A child process that starts the game with startGame and says where its copy is; it never stops it. */
function runHolding(): Promise<{ child: ChildProcess; copy: string }> {
  const script = `import { startGame } from ${JSON.stringify(TESTING)}; const g = await startGame({ root: ${JSON.stringify(root)} }); console.log('COPY ' + g.root);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REBIND_LOG: 'error' } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const copy = /COPY (\S+)/.exec(out)?.[1];
      if (copy) resolve({ child, copy });
    });
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before starting: ${out}`)));
  });
}

const aged = (dir: string) => utimesSync(dir, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

it('removes the copy of a run killed with SIGKILL, keeps a live run\'s copy and a fresh unlocked one', async () => {
  const killed = await runHolding();
  const live = await runHolding();
  killed.child.kill('SIGKILL');
  await new Promise((resolve) => killed.child.once('exit', resolve));
  expect(existsSync(killed.copy)).toBe(true); // what the killed run left
  // Both an hour old: only the lock tells them apart. A copy a second old and unlocked may be a run between its mkdtemp and its lock.
  aged(killed.copy);
  aged(live.copy);
  const fresh = path.join(root, '.rebind-test', 'run-fresh');
  mkdirSync(fresh);
  const game = await startGame({ root });
  try {
    expect(existsSync(killed.copy)).toBe(false);
    expect(existsSync(live.copy)).toBe(true);
    expect(existsSync(fresh)).toBe(true);
    expect(await game.call('hello.hi', null, 'p-ann')).toBe('hi');
  } finally {
    await game.stop();
  }
  expect(readdirSync(path.join(root, '.rebind-test')).sort()).toEqual([path.basename(live.copy), 'run-fresh'].sort());
}, 60_000);
