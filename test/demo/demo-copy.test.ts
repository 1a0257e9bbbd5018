import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The suites test the demo as committed: a developer trying the README's live
// patches on the working tree must still get a green `npm test`.

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const inGit = (() => {
  try {
    execFileSync('git', ['-C', REPO, 'rev-parse', 'HEAD'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!inGit)('the demo copy the tests use', () => {
  const clone = mkdtempSync(path.join(tmpdir(), 'rebind-clone-'));
  afterAll(() => rmSync(clone, { recursive: true, force: true }));

  it('is the committed demo, not a working tree edited by the README live patches', async () => {
    execFileSync('git', ['clone', '-q', REPO, clone]);
    const rules = path.join(clone, 'logic/lib/rules.ts');
    const committed = readFileSync(rules, 'utf8');
    expect(committed).toContain('export const SPEED = 200;');
    writeFileSync(rules, committed.replace('export const SPEED = 200;', 'export const SPEED = 600;'));
    writeFileSync(path.join(clone, 'logic/extra.ts'), 'export function hi() { return 1; }\n');

    const { demoProject } = (await import(path.join(clone, 'test/helpers/demo.ts'))) as typeof import('../helpers/demo.ts');
    const project = demoProject();
    try {
      expect(readFileSync(project.path('logic/lib/rules.ts'), 'utf8')).toBe(committed);
      expect(() => readFileSync(project.path('logic/extra.ts'))).toThrow();
      expect(readFileSync(project.path('state/arena.ts'), 'utf8')).toBe(readFileSync(path.join(clone, 'state/arena.ts'), 'utf8'));
    } finally {
      project.cleanup();
    }
  });
});
