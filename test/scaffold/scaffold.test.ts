import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
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
let parent: string;
let dir: string;

function npm(args: string[], timeout = 60_000) {
  const result = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', timeout, env: { ...process.env, NO_COLOR: '1', npm_config_audit: 'false', npm_config_fund: 'false' } });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

beforeAll(() => {
  parent = mkdtempSync(path.join(tmpdir(), 'rebind-scaffold-'));
  dir = path.join(parent, 'my-game');
});
afterAll(() => {
  rmSync(parent, { recursive: true, force: true });
});

describe('rebind new', () => {
  it('creates a project outside the engine that depends on it by file:', async () => {
    const made = await runCli(['new', dir]);
    expect(made.code).toBe(0);
    const spec = `file:${path.relative(dir, ENGINE).split(path.sep).join('/')}`;
    expect(made.stdout).toContain(`depends on rebind as "${spec}"`);
    expect(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).dependencies).toEqual({ rebind: spec });
    const again = await runCli(['new', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is not empty');
    const inside = await runCli(['new', path.join(ENGINE, 'games', 'x')]);
    expect(inside.code).toBe(2);
  });

  it('installs without the network', () => {
    let install = npm(['install', '--offline']);
    // npm ci fills the cache with tarballs only; a package's metadata may be missing (ENOTCACHED) on a fresh CI machine.
    if (install.code !== 0 && install.out.includes('ENOTCACHED')) install = npm(['install', '--prefer-offline']);
    expect(install.code, install.out).toBe(0);
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
    writeFileSync(helper, `import type { Ctx } from 'rebind';\nexport function later(ctx: Ctx) {\n  ctx.schedule(1000, 'score.top', { n: 'three' });\n  ctx.call('score.clik');\n}\n`);
    try {
      const failed = npm(['run', 'typecheck']);
      expect(failed.out).toContain("ctx.schedule(1000, 'score.top', { n: 'three' });");
      expect(failed.out).toContain("ctx.call('score.clik');");
      expect(failed.code).not.toBe(0);
      expect(failed.out).toContain(`Argument of type '"score.clik"' is not assignable to parameter of type '"score.click" | "score.top"`);
      expect(failed.out).toContain("await c.call('score.top', { n: 'three' });");
      expect(failed.out).toContain("Type 'string' is not assignable to type 'number'");
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
