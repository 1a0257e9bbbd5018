import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';

// The arena page belongs to the engine's demo: a game of its own does not get
// it on its game port (unless asked with --demo-page), and a folder with no
// logic/ is told loudly that there is no game in it.

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));
const made: string[] = [];
const running: ServerProcess[] = [];
afterAll(async () => {
  for (const s of running) await s.stop();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function folder(withGame: boolean): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-pages-'));
  made.push(root);
  if (withGame) {
    mkdirSync(path.join(root, 'logic'));
    mkdirSync(path.join(root, 'state'));
    writeFileSync(path.join(root, 'logic', 'hello.ts'), "import { client } from 'rebind';\nexport const hi = client((ctx) => 'hi ' + ctx.player);\n");
  }
  return root;
}

async function start(args: string[]): Promise<ServerProcess> {
  const server = await startServerProcess(args, { REBIND_DEMO_PAGE: '' });
  running.push(server);
  return server;
}

async function page(server: ServerProcess): Promise<{ status: number; text: string }> {
  const res = await fetch(server.gameUrl.replace(/^ws/, 'http') + '/');
  return { status: res.status, text: await res.text() };
}

describe("the demo's page", () => {
  it("is not served for a game of its own, and the server does not offer it", async () => {
    const root = folder(true);
    const server = await start(['--root', root, '--data', path.join(root, 'data')]);
    const got = await page(server);
    expect(got.text).not.toContain('rebind arena');
    expect(got.status).not.toBe(200);
    expect(server.output()).not.toContain('play in a browser');
    expect(server.output()).toContain('no page is served on the game port');
    expect(server.output()).not.toContain('NO GAME HERE');
  });

  it('is served with --demo-page, and for the engine\'s own demo', async () => {
    const root = folder(true);
    const asked = await start(['--root', root, '--data', path.join(root, 'data'), '--demo-page']);
    expect((await page(asked)).text).toContain('<title>rebind arena</title>');
    const data = folder(false);
    const demo = await start(['--root', ENGINE, '--data', path.join(data, 'data')]);
    expect((await page(demo)).text).toContain('<title>rebind arena</title>');
    expect(demo.output()).toContain('play in a browser');
  });

  it('warns loudly when the root has no logic/ folder', async () => {
    const root = folder(false);
    const server = await start(['--root', root, '--data', path.join(root, 'data')]);
    expect(server.output()).toMatch(/NO GAME HERE: .* has no logic\/ folder/);
    expect(server.output()).toContain('0 logic modules');
  });
});
