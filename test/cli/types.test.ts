import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';

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
  put("logic/it's.ts", "import { client } from 'rebind';\nexport const hi = client((ctx, p: { n: number }) => ctx.player + p.n);\n");
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
    expect(text).toContain(`"it's.hi": typeof import("./logic/it's.ts")["hi"];`);
    expect(text).toContain(`"plain.default": typeof import("./logic/plain.ts")["default"];`);
    // The server refuses logic/config.ts (LIMIT is a number): none of its names are listed.
    expect(text).not.toContain('config.');
    expect(text).not.toContain('plain.tick');
    expect(run.stderr).toContain('logic/config.ts: export "LIMIT" is a number; the server refuses this module');
    // The file typechecks, and a call by the escaped name is checked.
    put('client/play.ts', `import type { RebindClient } from 'rebind/client';\nexport async function play(c: RebindClient) {\n  const s: string = await c.call("it's.hi", { n: 1 });\n  await c.call('config.ping');\n  return s;\n}\n`);
    const tsc = spawnSync(process.execPath, [path.join(ENGINE, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
    const errors = tsc.stdout.split('\n').filter((l) => /error TS/.test(l));
    expect(errors, tsc.stdout).toHaveLength(1);
    expect(errors[0]).toContain(`client/play.ts(4,`);
    expect(errors[0]).toContain('"config.ping"');
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
