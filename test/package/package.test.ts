import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGame, type TestGame } from 'rebind/testing';

// A game imports the engine by the package's name, and at run time gets the
// host's own instance: one copy of every store however often it is patched.
// The engine's insides are refused at patch time, naming file and import.

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));

const STATE = `
import { defineStore } from 'rebind';
export const tally = defineStore('tally', { n: 0 }, { version: 1 });
`;
const counter = (step: number) => `
import { client, type Ctx } from 'rebind';
import { tally } from '../state/tally.ts';
export const bump = client((ctx: Ctx) => {
  tally.update((d) => { d.n += ${step}; });
  return { n: tally.get().n, by: ctx.player };
});
`;
const SESSION = `
import type { Ctx } from 'rebind';
export function auth(_ctx: Ctx, p: { name: string }) { return 'p-' + p.name; }
`;

let game: TestGame;
beforeAll(async () => {
  game = await startGame({ root: '/nonexistent-game', files: { 'state/tally.ts': STATE, 'logic/counter.ts': counter(1), 'logic/session.ts': SESSION } });
});
afterAll(async () => {
  await game?.stop();
});

describe("the package's own name", () => {
  it("resolves 'rebind' to the host's instance, before and after a patch", async () => {
    const ann = await game.player('ann');
    expect(await ann.call('counter.bump')).toEqual({ n: 1, by: 'p-ann' });
    const record = await game.write('logic/counter.ts', counter(10));
    expect(record).toMatchObject({ ok: true });
    expect(await ann.call('counter.bump')).toEqual({ n: 11, by: 'p-ann' });
    // What logic wrote is in the store the host registered: there is no second copy.
    expect(game.state('tally')).toEqual({ n: 11 });
  });

  it("refuses logic that imports the engine's insides, naming the file and the import", async () => {
    for (const specifier of ['rebind/server/store/table.ts', `${ENGINE}server/store/table.ts`]) {
      const record = await game.write('logic/sneaky.ts', `import { Table } from '${specifier}';\nexport function size() { return typeof Table; }\n`);
      expect(record.ok).toBe(false);
      expect(record.error).toMatchObject({ code: 'PATCH_ENGINE_IMPORT', location: { file: 'logic/sneaky.ts', line: 1 } });
      expect(record.error!.message).toContain(`"${specifier}" is a part of the engine`);
    }
    // The rest of the game goes on as it was.
    expect(await game.call('counter.bump', null, 'p-bob')).toMatchObject({ n: 21 });
  });

  it('refuses the engine reached by a relative path through a symlink, naming the game file', async () => {
    // In a scaffolded game node_modules/rebind is a symlink to the engine's folder.
    mkdirSync(path.join(game.root, 'node_modules'), { recursive: true });
    symlinkSync(ENGINE, path.join(game.root, 'node_modules', 'rebind'));
    mkdirSync(path.join(game.root, 'logic', 'lib'), { recursive: true });
    symlinkSync(path.join(ENGINE, 'server'), path.join(game.root, 'logic', 'lib', 'eng'));
    for (const specifier of ['../node_modules/rebind/server/store/transaction.ts', './lib/eng/store/transaction.ts']) {
      const record = await game.write('logic/sneaky.ts', `// reaching in\nimport * as Tx from '${specifier}';\nexport function size() { return typeof Tx; }\n`);
      expect(record.ok, specifier).toBe(false);
      expect(record.error).toMatchObject({ code: 'PATCH_ENGINE_IMPORT', location: { file: 'logic/sneaky.ts', line: 2 } });
      expect(record.error!.message).toContain(`"${specifier}" is a part of the engine`);
    }
    // rebind's own api through the same symlink is the host's instance, not a copy.
    const record = await game.write('logic/sneaky.ts', `import { client } from '../node_modules/rebind/server/api.ts';\nexport const hi = client(() => 'hi');\n`);
    expect(record).toMatchObject({ ok: true });
    expect(await game.call('sneaky.hi', null, 'p-bob')).toBe('hi');
  });

  it('is how the demo imports the engine: rebind in state/ and logic/, rebind/client in its browser page', async () => {
    const esbuild = await import('esbuild');
    const demo = [
      'client/demo/main.ts',
      ...['logic', 'state'].flatMap((dir) => readdirSync(path.join(ENGINE, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => `${dir}/${f}`)),
    ];
    expect(demo).toContain('logic/arena.ts');
    for (const entry of demo) {
      const page = entry.startsWith('client/');
      // The page is bundled as the server bundles it, so 'rebind/client' must resolve; logic's 'rebind' is the host's.
      const result = await esbuild.build({ entryPoints: [entry], absWorkingDir: ENGINE, bundle: true, write: false, metafile: true, format: 'esm', platform: page ? 'browser' : 'node', external: page ? ['ws'] : ['rebind'], logLevel: 'silent' });
      for (const [file, input] of Object.entries(result.metafile.inputs)) {
        if (!/^(client\/demo|logic|state)\//.test(file)) continue;
        for (const imported of input.imports) {
          const specifier = imported.original ?? imported.path;
          const what = `${file} imports "${specifier}" (${imported.path})`;
          if (!specifier.startsWith('.')) expect([page ? 'rebind/client' : 'rebind'], what).toContain(specifier);
          else expect(imported.path, what).toMatch(page ? /^client\/demo\// : /^(logic|state)\//);
        }
      }
    }
  });
});
