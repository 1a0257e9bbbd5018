import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject } from '../helpers/project.ts';

// From a game's subfolder (my-game/logic), rebind finds the game as git and
// npm do: the nearest folder up with logic/. It said "not a rebind project",
// and rebind types looked for my-game/logic/logic.

const env = { REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '', REBIND_DATA: '' };
let project: TempProject;
let server: ServerProcess;

beforeAll(async () => {
  project = new TempProject({ 'state/s.ts': "import { defineStore } from 'rebind';\nexport const s = defineStore('s', { n: 1 });\n", 'logic/deep/m.ts': "import { client } from 'rebind';\nexport const hi = client(() => 'hi');\n" });
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], env);
});
afterAll(async () => {
  await server?.stop();
  project?.cleanup();
});

describe('rebind in a subfolder of a game', () => {
  it('status finds data/admin.token at the game root from logic/ and logic/deep/', async () => {
    for (const cwd of [project.path('logic'), project.path('logic/deep')]) {
      const result = await runCli(['status', '--json', '--server', server.adminUrl], env, cwd);
      expect(result.code, result.stderr + result.stdout).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ modules: expect.anything() });
    }
  });

  it('types writes the game root rebind-env.d.ts from logic/deep', async () => {
    rmSync(project.path('rebind-env.d.ts'), { force: true });
    const result = await runCli(['types'], env, project.path('logic/deep'));
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(project.path('rebind-env.d.ts'))).toBe(true);
    expect(existsSync(project.path('logic/deep/rebind-env.d.ts'))).toBe(false);
    expect(result.stdout).toContain('1 handler(s)');
  });

  it('outside any game, says so (and --data still points anywhere)', async () => {
    const nowhere = mkdtempSync(path.join(tmpdir(), 'rebind-nowhere-'));
    mkdirSync(path.join(nowhere, 'sub'));
    try {
      const result = await runCli(['status', '--server', server.adminUrl], env, path.join(nowhere, 'sub'));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${path.join(nowhere, 'sub')} is not a rebind project (no logic/ here or in a folder above)`);
      const pointed = await runCli(['status', '--json', '--server', server.adminUrl, '--data', project.path('data')], env, nowhere);
      expect(pointed.code, pointed.stderr).toBe(0);
    } finally {
      rmSync(nowhere, { recursive: true, force: true });
    }
  });
});
