#!/usr/bin/env node
// The `rebind` bin. Runs the CLI bundled as plain JavaScript (see
// tools/cli/build-cli.mjs); rebuilds it first when it is missing or a source
// changed since, which costs a few stats when nothing did.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ENGINE = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE = path.join(ENGINE, '.build', 'rebind-cli.mjs');
const INPUTS = path.join(ENGINE, '.build', 'rebind-cli.inputs');

/** The modification time, or undefined for a file that is not there or cannot be read. */
function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function stale() {
  const built = mtime(BUNDLE);
  if (built === undefined) return true;
  let inputs;
  try {
    inputs = readFileSync(INPUTS, 'utf8').split('\n').filter(Boolean);
  } catch {
    return true;
  }
  // A source deleted or newer than the bundle: build again.
  return inputs.some((file) => (mtime(file) ?? Infinity) > built);
}

/** False when the bundle cannot be written (a read-only install, say). */
async function build() {
  const { buildCli } = await import('./cli/build-cli.mjs');
  try {
    await buildCli();
    return true;
  } catch (err) {
    process.stderr.write(`rebind: could not build the CLI in ${path.dirname(BUNDLE)} (${err.message}); running it through tsx instead, which is slower\n`);
    return false;
  }
}

if (!stale() || (await build())) await import(pathToFileURL(BUNDLE).href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(ENGINE, 'tools', 'rebind.ts')).href);
}
