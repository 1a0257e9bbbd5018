import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runCli } from '../helpers/process.ts';

// What `rebind types` and `rebind new` load: the bundle's static imports and
// their own chunk's, never the admin client and the ws package behind it
// (20 to 90 ms of loading on this machine, for commands that talk to no server).

const BUILD = fileURLToPath(new URL('../../.build/', import.meta.url));

/** The bundled files `file` loads before running, itself included: its static imports, followed. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) staticClosure(path.resolve(path.dirname(file), m[1]!), seen);
  return seen;
}

it('rebind types and rebind new load no WebSocket code; the commands that talk to a server do', async () => {
  const built = await runCli(['help']); // builds the bundle if it is stale
  expect(built.code, built.stderr).toBe(0);
  const main = path.join(BUILD, 'rebind-cli.mjs');
  const mainText = readFileSync(main, 'utf8');
  const chunkOf = (name: string) => {
    const rel = new RegExp(`import\\("(\\./cli-chunks/${name}-[^"]+)"\\)`).exec(mainText)?.[1];
    expect(rel, `the ${name} chunk`).toBeDefined();
    return path.join(BUILD, rel!);
  };
  const hasWs = (files: Set<string>) => [...files].some((f) => readFileSync(f, 'utf8').includes('node_modules/ws/lib/websocket.js'));
  for (const name of ['types', 'new']) expect(hasWs(staticClosure(chunkOf(name), staticClosure(main))), name).toBe(false);
  expect(hasWs(staticClosure(chunkOf('admin-client')))).toBe(true);
}, 60_000);
