import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';
import { GameServer } from '../../server/server.ts';

// rebind types writes names it escapes, lists only what the server accepts,
// and `rebind watch` writes the file again after every patch that took.

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ENGINE, 'tools', 'bin-rebind.mjs');
let dir: string;

function put(rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rebind-types-'));
  put('package.json', '{ "name": "g", "type": "module", "private": true }\n');
  put('tsconfig.json', JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true, lib: ['ES2023', 'DOM'], types: ['node'] },
    include: ['state', 'logic', 'client', 'rebind-env.d.ts'],
  }));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ENGINE, path.join(dir, 'node_modules', 'rebind'));
  symlinkSync(path.join(ENGINE, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
  put('state/.keep', '');
  // A module name the server accepts, an export name that needs escaping (the server takes any export name).
  put('logic/quote.ts', "import { client } from 'rebind';\nconst hi = client((ctx, p: { n: number }) => ctx.player + p.n);\nexport { hi as \"it's\" };\n");
  put('logic/config.ts', "import { client } from 'rebind';\nexport const ping = client(() => 'pong');\nexport const LIMIT = 5;\n");
  put('logic/plain.ts', 'export default function (_ctx: unknown, p: { x: number }) { return p.x; }\nexport function tick() {}\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('rebind types', () => {
  it('escapes names and lists only the handlers the server accepts', async () => {
    const run = await runCli(['types', '--root', dir]);
    expect(run.code, run.stderr).toBe(0);
    const text = readFileSync(path.join(dir, 'rebind-env.d.ts'), 'utf8');
    expect(text).toContain(`"quote.it's": typeof import("./logic/quote.ts")["it's"];`);
    expect(text).toContain(`"plain.default": typeof import("./logic/plain.ts")["default"];`);
    // The server refuses logic/config.ts (LIMIT is a number): none of its names are listed.
    expect(text).not.toContain('config.');
    expect(text).not.toContain('plain.tick');
    expect(run.stderr).toContain('logic/config.ts: export "LIMIT" is a number; the server refuses this module');
    // The file typechecks, and a call by the escaped name is checked.
    put('client/play.ts', `import type { RebindClient } from 'rebind/client';\nexport async function play(c: RebindClient) {\n  const s: string = await c.call("quote.it's", { n: 1 });\n  await c.call('config.ping');\n  return s;\n}\n`);
    const tsc = spawnSync(process.execPath, [path.join(ENGINE, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
    const errors = tsc.stdout.split('\n').filter((l) => /error TS/.test(l));
    expect(errors, tsc.stdout).toHaveLength(1);
    expect(errors[0]).toContain(`client/play.ts(4,`);
    // The message (on the lines after it: tsc reports the last overload's error) names the call.
    expect(tsc.stdout).toContain(`Argument of type '"config.ping"' is not assignable to parameter of type`);
  }, 60_000);

  it('lets clients call only client handlers and $ requests, schedules only internal ones, and names the handler in every error', async () => {
    put('logic/shop.ts', `import { client, type Ctx, type SessionCtx } from 'rebind';
export function restock(_ctx: Ctx, p: { n: number }): number { return p.n; }
export const buy = client((ctx, p: { item: string }) => ({ left: 1, by: ctx.player }));
export function later(ctx: Ctx): void {
  const n: number = ctx.call('shop.restock', { n: 1 });
  const left: number = ctx.call('shop.buy', { item: 'x' }).left;
  ctx.schedule(10, 'shop.restock', { n: n + left });
  ctx.schedule(10, 'shop.buy', { item: 'x' });
  ctx.schedule(10, 'shop.restock', { n: 'x' });
  ctx.call('shop.restock');
}
export function hook(ctx: SessionCtx): string { return ctx.player.toUpperCase(); }
`);
    put('client/shop.ts', `import type { CodeVersions, RebindClient } from 'rebind/client';
export async function shop(c: RebindClient): Promise<number> {
  const versions: CodeVersions = await c.call('$versions');
  const now: number = (await c.call('$ping')).now;
  const { left } = await c.call('shop.buy', { item: 'sword' });
  await c.call('shop.restock', { n: 1 });
  await c.call('shop.buy', { item: 5 });
  await c.call('shop.buy');
  return left + now + Object.keys(versions).length;
}
`);
    try {
      const run = await runCli(['types', '--root', dir]);
      expect(run.code, run.stderr).toBe(0);
      const tsc = spawnSync(process.execPath, [path.join(ENGINE, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.', '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
      // One entry per error: its file(line) and the whole message, continuation lines included.
      const errors = tsc.stdout.split(/\n(?=\S)/).filter((e) => /error TS/.test(e) && /^(client|logic)\/shop\.ts/.test(e));
      const at = (where: string) => errors.filter((e) => e.startsWith(where)).join('\n');
      const lines = errors.map((e) => /^([^(]+\(\d+),/.exec(e)?.[1]).sort();
      expect(lines, tsc.stdout).toEqual(['client/shop.ts(6', 'client/shop.ts(7', 'client/shop.ts(8', 'logic/shop.ts(10', 'logic/shop.ts(8', 'logic/shop.ts(9']);
      // An internal handler is not a name a client may call: the message lists those it may.
      const callable = /Argument of type '"shop.restock"' is not assignable to parameter of type '([^']*(?:'s[^']*)?)'/.exec(at('client/shop.ts(6'))?.[1];
      expect(callable?.split(' | ').sort(), at('client/shop.ts(6')).toEqual(['"$leave"', '"$ping"', '"$versions"', '"quote.it\'s"', '"shop.buy"']);
      // A wrong payload, and a missing one, name the handler and what it takes.
      expect(at('client/shop.ts(7')).toContain('"payload of shop.buy": { item: string; }');
      expect(at('client/shop.ts(8')).toContain('"shop.buy needs a payload": { item: string; }');
      expect(at('logic/shop.ts(8')).toContain('"shop.buy is a client handler: it needs a player, and a timer has none (schedule an internal handler)"');
      expect(at('logic/shop.ts(9')).toContain('"payload of shop.restock": { n: number; }');
      expect(at('logic/shop.ts(10')).toContain('"shop.restock needs a payload": { n: number; }');
    } finally {
      rmSync(path.join(dir, 'logic', 'shop.ts'));
      rmSync(path.join(dir, 'client', 'shop.ts'));
    }
  }, 60_000);

  it('lists exactly the handlers a server running the same files has: re-exports in, refused names and modules out', async () => {
    const game = mkdtempSync(path.join(tmpdir(), 'rebind-types-agree-'));
    const add = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(game, rel)), { recursive: true });
      writeFileSync(path.join(game, rel), text);
    };
    add('package.json', '{ "name": "g", "type": "module", "private": true }\n');
    add('state/.keep', '');
    add('logic/lib/help.ts', "import { client } from 'rebind';\nexport const helpMe = client(() => 'help');\nexport function inner(_ctx: unknown, p: { n: number }) { return p.n; }\n");
    add('logic/lib/ns.ts', 'export function a() { return 1; }\n');
    add('logic/reexport.ts', "export * from './lib/help.ts';\nexport function own() { return 2; }\n");
    add('logic/has.dot.ts', 'export function dotted() { return 3; }\n');
    add('logic/1bad.ts', 'export function digitFirst() { return 4; }\n');
    add('logic/namespaced.ts', "export * as ns from './lib/ns.ts';\nexport function fine() { return 5; }\n");
    const server = await GameServer.start({ root: game, dataDir: path.join(game, 'data'), port: 0, host: '127.0.0.1' });
    try {
      const live = [...server.host.bindings.live.values()].flatMap((v) => [...v.handlers.keys()].map((h) => `${v.module}.${h}`)).sort();
      expect(live).toEqual(['reexport.helpMe', 'reexport.inner', 'reexport.own']);
      const run = await runCli(['types', '--root', game]);
      expect(run.code, run.stderr).toBe(0);
      const text = readFileSync(path.join(game, 'rebind-env.d.ts'), 'utf8');
      const typed = [...text.matchAll(/^  "([^"]+)": typeof/gm)].map((m) => m[1]).sort();
      expect(typed).toEqual(live);
      expect(run.stderr).toContain('logic/has.dot.ts: the module name "has.dot" cannot be used');
      expect(run.stderr).toContain('logic/1bad.ts: the module name "1bad" cannot be used');
      expect(run.stderr).toContain('logic/namespaced.ts: export "ns" is an object; the server refuses this module');
    } finally {
      await server.stop();
      rmSync(game, { recursive: true, force: true });
    }
  }, 60_000);

  it('is written again by rebind watch after each patch that took', async () => {
    rmSync(path.join(dir, 'logic', 'config.ts'));
    rmSync(path.join(dir, 'client'), { recursive: true, force: true });
    const server = await startServerProcess(['--root', dir, '--data', path.join(dir, 'data')], { REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '' });
    const watch = spawn(process.execPath, [CLI, 'watch', '--root', dir, '--server', server.adminUrl, '--data', path.join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '' } });
    let out = '';
    watch.stdout!.on('data', (d) => (out += d));
    watch.stderr!.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => watch.once('exit', resolve));
    try {
      await waitFor(() => out.includes('watching'), 20_000, `the watch to start:\n${out}`);
      rmSync(path.join(dir, 'rebind-env.d.ts'), { force: true });
      // A file created in the first moments of a watch can be missed by the watcher's initial scan
      // (the line says 'watching' before chokidar is ready): save it again, changed, every 2 s.
      let saves = 0;
      const save = () => put('logic/extra.ts', `import { client } from 'rebind';\nexport const more = client(() => ${++saves});\n`);
      save();
      const again = setInterval(save, 2000);
      await waitFor(() => {
        try {
          return readFileSync(path.join(dir, 'rebind-env.d.ts'), 'utf8').includes('"extra.more"');
        } catch {
          return false;
        }
      }, 20_000, `rebind-env.d.ts to be written after the patch:\n${out}`).finally(() => clearInterval(again));
    } finally {
      watch.kill('SIGTERM');
      await exited;
      await server.stop();
    }
  }, 60_000);
});
