import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gameLockfile } from '../../tools/scaffold/lockfile.ts';

// The game's lockfile is the part of the engine's that its tools need, found
// the way Node resolves (nested node_modules first), and nothing else.

const engines: string[] = [];
afterEach(() => {
  for (const dir of engines.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function engineWith(packages: Record<string, object>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rebind-lock-'));
  engines.push(dir);
  const root = { name: 'rebind', version: '0.1.0', dependencies: { esbuild: '^0.28.2' }, devDependencies: { tool: '^1.0.0' }, bin: { rebind: 'tools/bin-rebind.mjs' } };
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'rebind', lockfileVersion: 3, requires: true, packages: { '': root, ...packages } }));
  return dir;
}

const PACKAGES = {
  'node_modules/esbuild': { version: '0.28.2', integrity: 'sha512-e' },
  'node_modules/tool': { version: '1.0.0', integrity: 'sha512-t', dev: true, dependencies: { shared: '^2.0.0', '@scope/helper': '1' }, optionalDependencies: { 'tool-linux': '1.0.0', 'tool-darwin': '1.0.0' }, peerDependencies: { 'peer-needed': '*', 'peer-optional': '*' }, peerDependenciesMeta: { 'peer-optional': { optional: true } } },
  // The tool needs shared@2, nested under it; the engine itself uses shared@1 at the top.
  'node_modules/tool/node_modules/shared': { version: '2.0.0', integrity: 'sha512-s2', dev: true },
  'node_modules/shared': { version: '1.0.0', integrity: 'sha512-s1' },
  'node_modules/@scope/helper': { version: '1.2.3', integrity: 'sha512-h', devOptional: true },
  'node_modules/tool-linux': { version: '1.0.0', integrity: 'sha512-l', dev: true, optional: true, os: ['linux'] },
  'node_modules/peer-needed': { version: '3.0.0', integrity: 'sha512-p', dev: true, peer: true },
  'node_modules/peer-optional': { version: '1.0.0', integrity: 'sha512-o', dev: true },
};

describe('the game lockfile', () => {
  it("takes the tools' packages where Node would find them, with tarball addresses, and links rebind", () => {
    const engine = engineWith(PACKAGES);
    const lock = JSON.parse(gameLockfile({ engine, name: 'g', engineSpec: 'file:../rebind', devDependencies: { tool: '1.0.0' } })!) as { packages: Record<string, Record<string, unknown>> };
    expect(Object.keys(lock.packages).sort()).toEqual(['', '../rebind', 'node_modules/@scope/helper', 'node_modules/peer-needed', 'node_modules/rebind', 'node_modules/tool', 'node_modules/tool-linux', 'node_modules/tool/node_modules/shared'].sort());
    expect(lock.packages['']).toEqual({ name: 'g', version: '0.1.0', dependencies: { rebind: 'file:../rebind' }, devDependencies: { tool: '1.0.0' } });
    expect(lock.packages['node_modules/rebind']).toEqual({ resolved: '../rebind', link: true });
    expect(lock.packages['../rebind']).toMatchObject({ name: 'rebind', bin: { rebind: 'tools/bin-rebind.mjs' } });
    expect(lock.packages['node_modules/tool/node_modules/shared']).toEqual({ version: '2.0.0', integrity: 'sha512-s2', resolved: 'https://registry.npmjs.org/shared/-/shared-2.0.0.tgz', dev: true });
    expect(lock.packages['node_modules/@scope/helper']).toEqual({ version: '1.2.3', integrity: 'sha512-h', resolved: 'https://registry.npmjs.org/@scope/helper/-/helper-1.2.3.tgz', dev: true });
    // Reached only through an optional dependency: optional in the game too; the peer is not.
    expect(lock.packages['node_modules/tool-linux']).toMatchObject({ dev: true, optional: true, os: ['linux'] });
    expect(lock.packages['node_modules/peer-needed']).toEqual({ version: '3.0.0', integrity: 'sha512-p', resolved: 'https://registry.npmjs.org/peer-needed/-/peer-needed-3.0.0.tgz', dev: true });
  });

  it('is left out when the engine has no lockfile, another version of a tool, or misses a package a tool needs', () => {
    const input = { name: 'g', engineSpec: 'file:../rebind', devDependencies: { tool: '1.0.0' } };
    const bare = mkdtempSync(path.join(tmpdir(), 'rebind-nolock-'));
    engines.push(bare);
    expect(gameLockfile({ ...input, engine: bare })).toBeUndefined();
    expect(gameLockfile({ ...input, engine: engineWith(PACKAGES), devDependencies: { tool: '1.0.1' } })).toBeUndefined();
    const { ['node_modules/peer-needed']: _gone, ...withoutPeer } = PACKAGES;
    expect(gameLockfile({ ...input, engine: engineWith(withoutPeer) })).toBeUndefined();
  });
});
