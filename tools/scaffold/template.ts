// The files of a new game project (`rebind new <dir>`): a small working game
// to change, a test of it through rebind/testing, and the usual scripts.

export interface TemplateInput {
  name: string;
  /** The dependency on the engine, e.g. file:../rebind. */
  engineSpec: string;
  /** Versions of the tools the engine itself is tested with. */
  devDependencies: Record<string, string>;
}

export function templateFiles(input: TemplateInput): Record<string, string> {
  const pkg = {
    name: input.name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      start: 'rebind-server',
      dev: 'rebind-server --watch',
      test: 'vitest run',
      types: 'rebind types',
      typecheck: 'rebind types && tsc --noEmit --pretty',
    },
    dependencies: { rebind: input.engineSpec },
    devDependencies: input.devDependencies,
  };
  return {
    'package.json': JSON.stringify(pkg, null, 2) + '\n',
    'tsconfig.json': TSCONFIG,
    '.gitignore': 'node_modules/\ndata/\n.rebind/\n.rebind-test/\nrebind-env.d.ts\n',
    'vitest.config.ts': VITEST_CONFIG,
    'state/game.ts': STATE,
    'logic/session.ts': SESSION,
    'logic/score.ts': SCORE,
    'test/score.test.ts': TEST,
    'README.md': readme(input.name),
  };
}

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "allowImportingTsExtensions": true,
    "verbatimModuleSyntax": true,
    "skipLibCheck": true,
    "lib": ["ES2023", "DOM"],
    "types": ["node"]
  },
  "include": ["state", "logic", "test", "client", "rebind-env.d.ts", "vitest.config.ts"]
}
`;

const VITEST_CONFIG = `import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    // rebind ships TypeScript: let vitest compile it instead of handing it to Node.
    server: { deps: { inline: ['rebind'] } },
  },
});
`;

const STATE = `import { defineTable } from 'rebind';

// The game's data: created once, never reloaded, kept across every patch.

export interface Player {
  name: string;
  score: number;
}

export const players = defineTable<Player>('players', { version: 1 });
`;

const SESSION = `import { fail, type Ctx, type SessionCtx } from 'rebind';
import { players } from '../state/game.ts';

// Who a connection is: $auth {name} makes it the player "p-<name>". The
// other hooks (join, resume, drop, leave) run for that player: their
// SessionCtx has ctx.player as a string.

export function auth(_ctx: Ctx, payload: { name?: unknown }): string {
  const name = typeof payload?.name === 'string' ? payload.name.trim() : '';
  if (!/^[\\w-]{1,20}$/.test(name)) fail('BAD_NAME', 'a name is 1 to 20 letters, digits, _ or -');
  return 'p-' + name;
}

export function join(ctx: SessionCtx): void {
  const id = ctx.player;
  if (!players.has(id)) players.set(id, { name: id.slice(2), score: 0 });
  ctx.join('lobby');
}
`;

const SCORE = `import { client, type Ctx } from 'rebind';
import { players } from '../state/game.ts';

// Change POINTS and save while \`npm run dev\` runs: the next click scores the new amount.
const POINTS = 1;

export function init(ctx: Ctx): void {
  // Everyone in the lobby is synced the players table.
  ctx.setRoomView('lobby', { players: true });
}

// A client() handler always runs for a player: its ctx.player is a string.
export const click = client((ctx) => {
  players.update(ctx.player, (row) => {
    row.score += POINTS;
  });
  ctx.broadcast('lobby', 'scored', { player: ctx.player, points: POINTS });
  return { score: players.get(ctx.player)!.score };
});

export const top = client((_ctx, payload: { n: number }) => {
  return [...players.ids()]
    .map((id) => players.get(id)!)
    .sort((a, b) => b.score - a.score)
    .slice(0, payload.n);
});
`;

const TEST = `import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGame, type TestGame } from 'rebind/testing';

let game: TestGame;
beforeAll(async () => {
  game = await startGame(); // a copy of this project (in .rebind-test/), on a throwaway data folder
});
afterAll(async () => {
  await game?.stop();
});

it('scores a click and keeps the score across a patch', async () => {
  const ann = await game.player('ann');
  expect(await ann.call('score.click')).toEqual({ score: 1 });

  const record = await game.write('logic/score.ts', game.read('logic/score.ts').replace('const POINTS = 1;', 'const POINTS = 10;'));
  expect(record.ok).toBe(true);

  expect(await ann.call('score.click')).toEqual({ score: 11 });
  expect(game.state('players', 'p-ann')).toEqual({ name: 'ann', score: 11 });
  expect(await ann.call('score.top', { n: 1 })).toEqual([{ name: 'ann', score: 11 }]);
});
`;

function readme(name: string): string {
  return `# ${name}

A game on rebind, whose logic you patch while it runs.

\`\`\`sh
npm install
npm run dev        # the game on ws://127.0.0.1:8080, patched on every save (npm start: without --watch)
npm test           # the tests in test/, through rebind/testing
npm run typecheck  # rebind types (handler names and payloads), then tsc
\`\`\`

- \`state/\` holds the stores: plain data, created once, never reloaded.
- \`logic/\` holds the modules: every exported function is a handler named
  \`<module>.<export>\` (\`score.click\`); \`client(...)\` makes it callable by players.
- \`logic/session.ts\` says who a connection is (\`auth\`) and what joining does.

Try it: with \`npm run dev\` running, change \`POINTS\` in \`logic/score.ts\` and
save; the next \`score.click\` scores the new amount, and every score is kept.
While it runs, \`npx rebind status\` shows the modules and their versions.

\`npm install\` needs no registry on the machine where the engine was installed:
\`package-lock.json\` holds the engine's own versions of the tools, which npm
takes from its cache. The engine's documentation is in its \`docs/\` folder
(node_modules/rebind/docs/); its guide's testing section shows how a test
reads the live stores (\`game.stateModule\`).
`;
}
