import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// A long handler is named once, by its name. What blocks the loop right after
// it (the host committing or syncing what it wrote) is counted from its end:
// the watchdog must not add "blocked by code outside any handler", whose way
// out is to kill the process, for a block a named handler made.

const BUSY = fileURLToPath(new URL('../../server/patch/busy.ts', import.meta.url));

const script = `
import { runId, runStarted, runEnded, startWatchdog } from ${JSON.stringify(BUSY)};
const spin = (ms) => { const until = Date.now() + ms; while (Date.now() < until) {} };
startWatchdog();
await new Promise((r) => setTimeout(r, 300));
const id = runId('slow.spin');
const seq = runStarted(id);
spin(2300);
runEnded(seq, 'slow.spin');
spin(600); // the host's own work after the handler, outside any run
await new Promise((r) => setTimeout(r, 300));
process.stdout.write('DONE\\n');
`;

function run(source: string): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rebind-watchdog-'));
  const file = path.join(dir, 'run.mjs');
  writeFileSync(file, source);
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REBIND_LOG: 'warn' } });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    proc.once('exit', () => {
      rmSync(dir, { recursive: true, force: true });
      resolve(out);
    });
  });
}

it('names a long handler, and does not blame code outside any handler for the block it made', async () => {
  const out = await run(script);
  expect(out).toContain('DONE');
  expect(out).toMatch(/slow\.spin kept the event loop busy for about \d+ ms/);
  expect(out).not.toMatch(/blocked for \d+ ms by code outside any handler/);
}, 30_000);

it('still reports a block outside any handler that lasts on its own', async () => {
  const out = await run(script.replace('spin(600); // the host', 'spin(2600); // the host'));
  expect(out).toMatch(/blocked for \d+ ms by code outside any handler/);
}, 30_000);
