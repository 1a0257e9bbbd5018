import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TempProject } from './project.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DEMO_DIRS = ['state', 'logic'];

/**
 * A copy of the demo game (state/ and logic/) as committed, safe to patch.
 *
 * Tests assert the demo's shipped rules (speed, scores, commands), so they take
 * the committed files rather than the working tree: a developer who is trying
 * the README's live patches on `logic/` still gets a green `npm test`.
 * `REBIND_TEST_DEMO=worktree` tests the working tree instead (for work on the
 * demo itself); outside a git checkout the working tree is all there is.
 */
export function demoProject(): TempProject {
  const project = new TempProject();
  if (process.env.REBIND_TEST_DEMO === 'worktree' || !copyCommitted(project.root)) {
    for (const dir of DEMO_DIRS) cpSync(path(dir), project.path(dir), { recursive: true });
  }
  return project;
}

function path(dir: string): string {
  return fileURLToPath(new URL(`../../${dir}`, import.meta.url));
}

/** Extracts the committed state/ and logic/ into `root`; false when this is not a git checkout. */
function copyCommitted(root: string): boolean {
  try {
    const archive = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', 'HEAD', ...DEMO_DIRS], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', root], { input: archive, stdio: ['pipe', 'ignore', 'pipe'] });
    return true;
  } catch {
    return false;
  }
}
