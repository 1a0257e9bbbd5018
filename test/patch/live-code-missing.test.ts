import { rmSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { servedProject } from '../helpers/served-project.ts';

// A manifest that is gone while the builds and the patch history of an
// earlier run are still there is not a first start: it stops the start with
// LIVE_CODE_DAMAGED and the way out, and --from-disk numbers versions after
// every version the history names (they were reused from v1).

const TOKEN = 'rebind_live_code_missing_test_token';
const source = (word: string) => `export function which() { return '${word}'; }\n`;

const served = servedProject(TOKEN, { 'logic/m.ts': source('one') });

const admin = served.admin;
const which = async () => (await admin<{ result: string }>('call', { handler: 'm.which' })).result;
const start = served.start;

it('a missing manifest beside builds and history stops the start; --from-disk numbers versions after the history', async () => {
  await start();
  for (const word of ['two', 'three']) {
    writeFileSync(served.project.path('logic/m.ts'), source(word));
    expect(await admin<{ ok: boolean }>('patch', { modules: ['m'] })).toMatchObject({ ok: true });
  }
  expect(await served.server.stop()).toBe(0);

  rmSync(served.project.path('data/code/manifest.json'));
  await expect(start()).rejects.toThrow(/LIVE_CODE_DAMAGED.*manifest\.json is missing.*--from-disk/s);

  await start('--from-disk');
  expect(await which()).toBe('three');
  const s = await admin<{ modules: Array<{ name: string; version: number }> }>('status');
  expect(s.modules.find((m) => m.name === 'm')!.version).toBe(4);
  writeFileSync(served.project.path('logic/m.ts'), source('four'));
  expect(await admin<{ modules: Array<{ newVersion: number }> }>('patch', { modules: ['m'] })).toMatchObject({ ok: true, modules: [{ newVersion: 5 }] });
  expect(await served.server.stop()).toBe(0);
  // Saved again: a plain start takes it.
  await start();
  expect(await which()).toBe('four');
}, 60_000);

it('a missing manifest with only the history left (builds removed) also stops the start', async () => {
  await served.server.kill();
  rmSync(served.project.path('data/code/manifest.json'));
  rmSync(served.project.path('data/code/builds'), { recursive: true });
  await expect(start()).rejects.toThrow(/LIVE_CODE_DAMAGED.*patch history/s);
}, 60_000);
