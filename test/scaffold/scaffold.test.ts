import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { runCli } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';

// A game of one's own, the way a user makes one: `rebind new` into a folder
// outside the engine, `npm install` without the network (the file: dependency
// and npm's cache), then its own scripts: typecheck, dev, test.

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));
const BIN = realpathSync(path.join(ENGINE, 'tools', 'bin-rebind.mjs'));
// A registry nobody answers on: every npm and npx command the docs give must work without one.
const NO_REGISTRY = { npm_config_registry: 'http://127.0.0.1:9/' };
let parent: string;
let dir: string;

function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? dir,
    encoding: 'utf8',
    timeout: options.timeout ?? 60_000,
    env: { ...process.env, NO_COLOR: '1', npm_config_audit: 'false', npm_config_fund: 'false', ...options.env },
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}
const npm = (args: string[], options?: { env?: Record<string, string> }) => run('npm', args, options);

beforeAll(() => {
  parent = mkdtempSync(path.join(tmpdir(), 'rebind-scaffold-'));
  dir = path.join(parent, 'my-game');
});
afterAll(() => {
  rmSync(parent, { recursive: true, force: true });
});

describe('rebind new', () => {
  it('creates a project outside the engine that depends on it by file:, with the command the docs give', async () => {
    // Outside a project, `npx rebind` asks the registry for a package named rebind; naming the engine's folder does not.
    const made = run('npx', ['--prefix', ENGINE, 'rebind', 'new', 'my-game'], { cwd: parent, env: NO_REGISTRY });
    expect(made.code, made.out).toBe(0);
    const spec = `file:${path.relative(dir, ENGINE).split(path.sep).join('/')}`;
    expect(made.out).toContain(`depends on rebind as "${spec}"`);
    expect(made.out).toContain("package-lock.json locks typescript, vitest, @types/node and tsx at this engine's versions");
    expect(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).dependencies).toEqual({ rebind: spec });
    expect(JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages['node_modules/rebind']).toEqual({ resolved: spec.slice('file:'.length), link: true });
    // The bin run by its path, outside a project, says what it is missing and how to make a game from there.
    const lost = run(process.execPath, [BIN, 'status'], { cwd: parent });
    expect(lost.code).toBe(2);
    expect(lost.out).toContain(`${parent} is not a rebind project`);
    expect(lost.out).toContain(`To start a game of your own: node ${BIN} new <dir>.`);
    const again = await runCli(['new', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is not empty');
    const inside = await runCli(['new', path.join(ENGINE, 'games', 'x')]);
    expect(inside.code).toBe(2);
  });

  it('installs with a plain npm install and no registry: its lockfile and the tarballs in npm\'s cache', () => {
    // A cache of tarballs only, no package metadata: what `npm ci` leaves on a fresh machine (and why a
    // project without a lockfile fails there with ENOTCACHED). The tarballs are where the engine's install put them.
    const cache = path.join(parent, 'npm-cache');
    const tarballs = path.join(run('npm', ['config', 'get', 'cache'], { cwd: parent }).out.trim(), '_cacache', 'content-v2');
    expect(existsSync(tarballs), `npm's cache has no tarballs at ${tarballs}: install the engine first`).toBe(true);
    mkdirSync(path.join(cache, '_cacache'), { recursive: true });
    symlinkSync(tarballs, path.join(cache, '_cacache', 'content-v2'));
    const install = npm(['install'], { env: { ...NO_REGISTRY, npm_config_cache: cache } });
    expect(install.code, install.out).toBe(0);
    expect(realpathSync(path.join(dir, 'node_modules', 'rebind'))).toBe(realpathSync(ENGINE));
    // docs/api.md: a plain Node script of the game that imports rebind/client runs with the game's own tsx.
    writeFileSync(path.join(dir, 'bot.ts'), "import { RebindClient } from 'rebind/client';\nconst kind: string = typeof RebindClient;\nconsole.log(`client is a ${kind}`);\n");
    const bot = run('npx', ['--no-install', 'tsx', 'bot.ts'], { cwd: dir, env: NO_REGISTRY });
    expect(bot.code, bot.out).toBe(0);
    expect(bot.out).toContain('client is a function');
    rmSync(path.join(dir, 'bot.ts'));
  });

  it('typechecks, and a misspelt handler name or a wrong payload fails the typecheck naming the handler', () => {
    const clean = npm(['run', 'typecheck']);
    expect(clean.code, clean.out).toBe(0);
    expect(readFileSync(path.join(dir, 'rebind-env.d.ts'), 'utf8')).toContain('"score.click": typeof import("./logic/score.ts")["click"];');
    const bad = path.join(dir, 'test', 'bad-client.ts');
    writeFileSync(
      bad,
      `import { RebindClient } from 'rebind/client';
export async function play(c: RebindClient): Promise<number> {
  const mine = await c.call('score.click');
  await c.call('score.clik');
  await c.call('score.top', { n: 'three' });
  return mine.score;
}
`,
    );
    // Logic's own calls by name are checked too (a helper: not a module, so not a handler).
    const helper = path.join(dir, 'logic', 'lib', 'later.ts');
    mkdirSync(path.dirname(helper), { recursive: true });
    writeFileSync(helper, `import type { Ctx } from 'rebind';\nexport function later(ctx: Ctx) {\n  ctx.schedule(1000, 'score.top', { n: 3 });\n  ctx.call('score.clik');\n}\n`);
    try {
      const failed = npm(['run', 'typecheck']);
      expect(failed.code).not.toBe(0);
      // Each message names the handler: a timer has no player, so a client handler cannot be scheduled...
      expect(failed.out).toContain("ctx.schedule(1000, 'score.top', { n: 3 });");
      expect(failed.out).toContain('"score.top is a client handler: it needs a player');
      // ...a misspelt name is listed against the names there are...
      expect(failed.out).toContain("ctx.call('score.clik');");
      expect(failed.out).toMatch(/Argument of type '"score.clik"' is not assignable to parameter of type '[^']*"score.click"/);
      // ...and a wrong payload says whose payload and what it takes.
      expect(failed.out).toContain("await c.call('score.top', { n: 'three' });");
      expect(failed.out).toContain('"payload of score.top": { n: number; }');
      // The typed result: mine.score is a number, so there are exactly these four errors.
      expect(failed.out.match(/TS\d{4}:/g)).toHaveLength(4);
    } finally {
      unlinkSync(bad);
      unlinkSync(helper);
    }
  });

  it('runs with npm run dev: played with rebind/client, patched by saving a file', async () => {
    const server: ChildProcess = spawn('npm', ['run', 'dev', '--', '--port', '0', '--host', '127.0.0.1', '--admin-port', '0'], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout!.on('data', (d) => (out += d));
    server.stderr!.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => server.once('exit', resolve));
    const file = path.join(dir, 'logic/score.ts');
    const original = readFileSync(file, 'utf8');
    let player: RebindClient | undefined;
    try {
      await waitFor(() => /game server listening on ws:\/\/[\d.:]+/.test(out), 20_000, `the game to start:\n${out}`);
      player = new RebindClient(/game server listening on (ws:\/\/[\d.:]+)/.exec(out)![1]!, { reconnect: false });
      await player.connect();
      await player.join({ name: 'ann' });
      expect(await player.call('score.click')).toEqual({ score: 1 });
      // The server in --watch writes the types after every patch: take the file away and see it come back.
      const types = path.join(dir, 'rebind-env.d.ts');
      rmSync(types);
      writeFileSync(file, original.replace('const POINTS = 1;', 'const POINTS = 5;'));
      await waitFor(() => /patched score v1 -> v2/.test(out), 10_000, 'the saved file to be patched in');
      expect(await player.call('score.click')).toEqual({ score: 6 });
      expect(readFileSync(types, 'utf8')).toContain('"score.top": typeof import("./logic/score.ts")["top"];');
      // The README's `npx rebind status`: in the project, npx runs the project's own bin (no registry).
      const admin = /admin listening on (ws:\/\/[\d.:]+)/.exec(out)![1]!;
      const status = run('npx', ['rebind', 'status', '--json', '--server', admin], { env: NO_REGISTRY });
      expect(status.code, status.out).toBe(0);
      expect((JSON.parse(status.out) as { modules: Array<{ name: string; version: number }> }).modules).toContainEqual(expect.objectContaining({ name: 'score', version: 2 }));
    } catch (err) {
      throw new Error(`${(err as Error).message}\nthe game's output:\n${out}`);
    } finally {
      writeFileSync(file, original);
      player?.close();
      process.kill(-server.pid!, 'SIGTERM');
      await exited;
    }
  });

  it("passes its own npm test", () => {
    const test = npm(['test']);
    expect(test.code, test.out).toBe(0);
    expect(test.out).toMatch(/1 passed/);
  });
});
