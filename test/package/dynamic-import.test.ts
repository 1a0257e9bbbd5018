import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGame, type TestGame } from 'rebind/testing';

// import() in logic: code evaluated by the host has no ES module loader, so a
// real import() failed at run time ("A dynamic import callback was not
// specified"). It is built as a require: it reaches what a static import
// reaches, the host's own instance of rebind included.

const HELPER = `export const twice = (n: number) => n * 2;`;
const LOGIC = `
import { fail } from 'rebind';
export async function builtin(ctx: unknown, p: { file: string }) {
  const path = await import('node:path');
  return path.basename(p.file);
}
export async function byName(ctx: unknown, p: { name: string }) {
  const m = await import(p.name);
  return typeof m.join;
}
export async function helper(ctx: unknown, p: { n: number }) {
  const { twice } = await import('./lib/helper.ts');
  return twice(p.n);
}
export async function sameApi() {
  const api = await import('rebind');
  return api.fail === fail;
}
`;

let game: TestGame;
beforeAll(async () => {
  game = await startGame({ root: '/nonexistent-game', files: { 'logic/lib/helper.ts': HELPER, 'logic/dyn.ts': LOGIC } });
});
afterAll(async () => {
  await game?.stop();
});

describe('import() in logic', () => {
  it('loads a Node built-in, by a literal and by a name known only at run time', async () => {
    expect(await game.call('dyn.builtin', { file: '/a/b/c.txt' })).toBe('c.txt');
    expect(await game.call('dyn.byName', { name: 'node:path' })).toBe('function');
  });

  it('loads a helper under logic/lib (bundled in, like a static import)', async () => {
    expect(await game.call('dyn.helper', { n: 21 })).toBe(42);
  });

  it("reaches the host's own instance of rebind, not a second copy", async () => {
    expect(await game.call('dyn.sameApi')).toBe(true);
  });

  it('an import() of a package that is not there fails that call with a clear error', async () => {
    await expect(game.call('dyn.byName', { name: 'no-such-package-xyz' })).rejects.toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining("Cannot find module 'no-such-package-xyz'") });
  });
});
