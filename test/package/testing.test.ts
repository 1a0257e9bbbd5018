import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from 'rebind';
import { startGame, type TestGame } from 'rebind/testing';

// startGame runs a copy of the game: it must resolve what the game resolves
// (its npm packages, its own folders beside logic/), and a module that does
// not load fails the start instead of being left out quietly.

const made: string[] = [];
let game: TestGame | undefined;
afterEach(async () => {
  await game?.stop();
  game = undefined;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-project-'));
  made.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const GAME = {
  'package.json': '{ "name": "g", "type": "module" }\n',
  // A real installed package (CommonJS, as many are) and a folder of the game's own beside logic/.
  'node_modules/tiny-double/package.json': '{ "name": "tiny-double", "version": "1.0.0", "main": "index.js" }\n',
  'node_modules/tiny-double/index.js': 'exports.double = (n) => n * 2;\n',
  'shared/greet.ts': 'export const greet = (who: string) => `hello ${who}`;\n',
  'state/.keep': '',
  'logic/hello.ts': `
import { client } from 'rebind';
import { double } from 'tiny-double';
import { greet } from '../shared/greet.ts';
export const hi = client((ctx) => ({ text: greet(ctx.player), n: double(21) }));
`,
};

describe('rebind/testing startGame', () => {
  it("runs a game whose logic imports an npm package and a folder beside logic/", async () => {
    const root = project(GAME);
    game = await startGame({ root });
    expect(game.root.startsWith(path.join(root, '.rebind-test') + path.sep)).toBe(true);
    expect(await game.call('hello.hi', null, 'p-ann')).toEqual({ text: 'hello p-ann', n: 42 });
    await game.stop();
    game = undefined;
    // The copy is gone, and its folder with it.
    expect(existsSync(path.join(root, '.rebind-test'))).toBe(false);
    expect(readdirSync(root).sort()).toEqual(['logic', 'node_modules', 'package.json', 'shared', 'state']);
  });

  it('rejects with the module error when a module does not load', async () => {
    const root = project({ ...GAME, 'logic/broken.ts': "import { nope } from 'not-installed-anywhere';\nexport const x = nope;\n" });
    await expect(startGame({ root })).rejects.toThrow(/broken did not load.*not-installed-anywhere/s);
    await expect(startGame({ root, files: { 'logic/bad.ts': 'export const x = ;' } })).rejects.toThrow(/bad did not load \(PATCH_COMPILE_ERROR/);
    expect(existsSync(path.join(root, '.rebind-test'))).toBe(false);
  });

  it('runs games of one project side by side, each on a copy of its own', async () => {
    const root = project(GAME);
    const games = await Promise.all([1, 2, 3, 4].map(() => startGame({ root })));
    expect(new Set(games.map((g) => g.root)).size).toBe(4);
    // Stopping some while others start: the shared .rebind-test/ may come and go meanwhile.
    await Promise.all([...games.map((g) => g.stop()), ...[1, 2].map(async () => (await startGame({ root })).stop())]);
    expect(existsSync(path.join(root, '.rebind-test'))).toBe(false);
  });

  it('refuses a project with no logic/ folder instead of starting an empty game', async () => {
    const root = project({ 'package.json': '{}\n' });
    await expect(startGame({ root })).rejects.toThrow(/has no logic\/ folder/);
    expect(readdirSync(root)).toEqual(['package.json']);
  });

  it('hands a test the live stores of a state file, the same objects across a patch', async () => {
    const root = project({
      'package.json': '{ "name": "g", "type": "module" }\n',
      'state/tally.ts': "import { defineStore } from 'rebind';\nexport const tally = defineStore('tally', { n: 0 }, { version: 1 });\n",
      'logic/count.ts': "import { tally } from '../state/tally.ts';\nexport function add(_ctx: unknown, p: { by: number }) { tally.update((d) => { d.n += p.by; }); return tally.get().n; }\n",
    });
    game = await startGame({ root });
    const { tally } = game.stateModule<{ tally: Store<{ n: number }> }>('state/tally.ts');
    expect(await game.call('count.add', { by: 2 })).toBe(2);
    expect(tally.get()).toEqual({ n: 2 });
    const record = await game.write('logic/count.ts', game.read('logic/count.ts').replace('d.n += p.by', 'd.n += 10 * p.by'));
    expect(record.ok).toBe(true);
    expect(await game.call('count.add', { by: 1 })).toBe(12);
    // The store the test holds is the one the patched code writes: there is no second copy.
    expect(tally.get()).toEqual({ n: 12 });
    expect(game.stateModule<{ tally: unknown }>('state/tally.ts').tally).toBe(tally);
    expect(() => game!.stateModule('state/nope.ts')).toThrow('stateModule: state/nope.ts is not a state file the server loaded (loaded: state/tally.ts)');
  });
});
