import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The bin runs .build/rebind-cli.mjs, and builds it again when it is stale:
// a source newer than it, a chunk it loads gone, or a change to the builder.
// On a copy of the engine, so the repository's own .build is left alone.

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));
let copy: string;
let game: string;

const bin = (...args: string[]) => spawnSync(process.execPath, [path.join(copy, 'tools', 'bin-rebind.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const built = () => statSync(path.join(copy, '.build', 'rebind-cli.mjs')).mtimeMs;

beforeAll(() => {
  copy = mkdtempSync(path.join(tmpdir(), 'rebind-engine-'));
  for (const dir of ['tools', 'server', 'client']) cpSync(path.join(ENGINE, dir), path.join(copy, dir), { recursive: true });
  cpSync(path.join(ENGINE, 'package.json'), path.join(copy, 'package.json'));
  symlinkSync(path.join(ENGINE, 'node_modules'), path.join(copy, 'node_modules'));
  game = path.join(copy, 'game');
  mkdirSync(path.join(game, 'logic'), { recursive: true });
  writeFileSync(path.join(game, 'logic', 'a.ts'), 'export function hi() { return 1; }\n');
  const first = bin('types', '--root', game);
  expect(first.status, first.stderr).toBe(0);
});
afterAll(() => {
  rmSync(copy, { recursive: true, force: true });
});

describe('the CLI bundle', () => {
  it('is built again when a chunk it loads is missing', () => {
    const chunks = path.join(copy, '.build', 'cli-chunks');
    const names = readdirSync(chunks);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) rmSync(path.join(chunks, name));
    const run = bin('types', '--root', game);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('1 handler(s)');
  });

  it('is built again when the builder changes', () => {
    const before = built();
    const builder = path.join(copy, 'tools', 'cli', 'build-cli.mjs');
    appendFileSync(builder, '// changed\n');
    const later = new Date(before + 5000);
    utimesSync(builder, later, later);
    const run = bin('help');
    expect(run.status, run.stderr).toBe(0);
    expect(built()).toBeGreaterThan(before);
  });
});
