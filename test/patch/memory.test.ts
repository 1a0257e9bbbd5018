import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const run = promisify(execFile);

// In a child process of its own, so that --expose-gc is real and no other
// suite's garbage is counted.
it('keeps the heap flat over 2,000 patches of a 100 KB module (old versions are freed)', async () => {
  const script = fileURLToPath(new URL('../fixtures/heap-soak.ts', import.meta.url));
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', script, '2000'], { timeout: 170_000 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { at100: number; end: number; growthMb: number };
  expect(result.at100).toBeGreaterThan(0);
  expect(result.growthMb).toBeLessThan(5);
}, 180_000);
