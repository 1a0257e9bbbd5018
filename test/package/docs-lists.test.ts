import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as rebind from 'rebind';
import * as rebindClient from 'rebind/client';
import * as rebindTesting from 'rebind/testing';
import { listSourceFiles } from '../../server/patch/modules.ts';

// The docs' lists against the code: docs/api.md names every export of
// rebind, rebind/client and rebind/testing (in that entry point's part of the
// page), and docs/protocol.md every error code a client can get. A new
// export, or a new code in server/errors.ts, fails here until it is written
// down (or, for a code, until it is said to be for operators only).

const ENGINE = new URL('../../', import.meta.url);
const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, ENGINE)), 'utf8');

/** Every name a source file exports, types included: declarations and `export [type] { a, b as c } from` lists. */
function exportedNames(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/^export\s+(?:declare\s+)?(?:abstract\s+)?(?:function|class|interface|type|const|let|enum)\s+([A-Za-z_$][\w$]*)/gm)) names.add(m[1]!);
  for (const m of source.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}/gm)) {
    for (const item of m[1]!.split(',').map((i) => i.trim()).filter(Boolean)) names.add(item.split(/\s+as\s+/).pop()!.replace(/^type\s+/, ''));
  }
  return [...names].sort();
}

const api = read('docs/api.md');
const clientAt = api.indexOf('## `rebind/client`');
const testingAt = api.indexOf('## `rebind/testing`');
const parts = {
  rebind: { file: 'server/api.ts', text: api.slice(0, clientAt), runtime: rebind },
  'rebind/client': { file: 'client/index.ts', text: api.slice(clientAt, testingAt), runtime: rebindClient },
  'rebind/testing': { file: 'server/testing.ts', text: api.slice(testingAt), runtime: rebindTesting },
};

describe('docs/api.md lists every export', () => {
  for (const [entry, part] of Object.entries(parts)) {
    it(entry, () => {
      expect(clientAt).toBeGreaterThan(0);
      expect(testingAt).toBeGreaterThan(clientAt);
      const names = exportedNames(read(part.file));
      // The parse sees at least what exists at run time (so a missed syntax cannot hide an export).
      for (const name of Object.keys(part.runtime)) expect(names, `${name} exported by ${entry} at run time`).toContain(name);
      const missing = names.filter((name) => !new RegExp('`(new )?' + name.replace(/\$/g, '\\$') + '\\b').test(part.text));
      expect(missing, `exports of ${entry} that its part of docs/api.md does not name`).toEqual([]);
    });
  }
});

/** Codes that never reach a client: patches, the admin channel, the data folder at start. */
const OPERATOR_ONLY = [
  'PATCH_COMPILE_ERROR', 'PATCH_EVAL_ERROR', 'PATCH_BAD_EXPORT', 'PATCH_INIT_ERROR', 'PATCH_MIGRATION_ERROR', 'PATCH_STATE_IMPORT',
  'PATCH_ENGINE_IMPORT', 'PATCH_TIME_LIMIT', 'NO_ROLLBACK', 'UNKNOWN_MODULE', 'BAD_MODULE_NAME', 'STATE_LOAD_ERROR', 'PORT_IN_USE',
  'BAD_TOKEN', 'UNKNOWN_ACTION', 'DATA_DAMAGED', 'DATA_LOCKED', 'LIVE_CODE_DAMAGED', 'CANARY_REFUSED',
  'FLEET_ABORTED', 'FLEET_BUSY',
];

describe('docs/protocol.md lists every error code a client can get', () => {
  const codes = [...read('server/errors.ts').matchAll(/^\s*\|\s*'([A-Z_]+)'/gm)].map((m) => m[1]!);
  const section = read('docs/protocol.md').split('### Error codes a client can get')[1]?.split(/\n#/)[0] ?? '';

  it('finds the list and the codes', () => {
    expect(section.length).toBeGreaterThan(0);
    expect(codes).toContain('NEEDS_PLAYER');
    expect(codes.length).toBeGreaterThan(30);
  });

  it('names each code a client can get, and only those', () => {
    const listed = (code: string) => new RegExp('`' + code + '`').test(section);
    const clientCodes = codes.filter((c) => !OPERATOR_ONLY.includes(c));
    expect(clientCodes.filter((c) => !listed(c)), 'codes a client can get that docs/protocol.md does not list').toEqual([]);
    expect(OPERATOR_ONLY.filter(listed), 'operator-only codes listed as a client\'s').toEqual([]);
    // An operator-only code that no longer exists is a stale entry here.
    expect(OPERATOR_ONLY.filter((c) => !codes.includes(c))).toEqual([]);
  });

  it('every code the engine raises is in the one list in server/errors.ts', () => {
    const files = ['server', 'tools', 'client'].flatMap((dir) => listSourceFiles(fileURLToPath(new URL(dir, ENGINE))));
    const raised = new Set(files.map((f) => readFileSync(f, 'utf8')).flatMap((text) => [...text.matchAll(/(?:rebindError|new RebindError)\('([A-Z_]+)'/g)].map((m) => m[1]!)));
    expect(raised.size).toBeGreaterThan(20);
    expect([...raised].filter((c) => !codes.includes(c)).sort()).toEqual([]);
  });
});
