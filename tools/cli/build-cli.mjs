// Bundles the TypeScript CLI (tools/rebind.ts and what it imports, `ws`
// included) into one ES module that Node runs directly: loading tsx cost
// about a second per command, and resolving ws's dozen files another tenth.
// Run by `npm install`/`npm ci` (the `prepare` script) and, when the bundle is
// missing or older than a source, by the bin itself (tools/bin-rebind.mjs),
// so a fresh clone or a `file:` install of the engine works either way.
// Plain JavaScript on purpose: it must run before anything is built.
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ENGINE = fileURLToPath(new URL('../..', import.meta.url));
export const OUT_DIR = path.join(ENGINE, '.build');
export const BUNDLE = path.join(OUT_DIR, 'rebind-cli.mjs');
const CHUNKS = path.join(OUT_DIR, 'cli-chunks');
/** The bundle's source files, this builder and the chunks, one absolute path a line: the bin compares their times with the bundle's. */
export const INPUTS = path.join(OUT_DIR, 'rebind-cli.inputs');

export async function buildCli() {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(ENGINE, 'tools/rebind.ts')],
    absWorkingDir: ENGINE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    // What only some commands use (the file watcher, esbuild for rebind types) is a chunk of its own, loaded by them alone.
    splitting: true,
    outdir: OUT_DIR,
    entryNames: 'rebind-cli',
    chunkNames: 'cli-chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    logLevel: 'silent',
    // ws's optional native helpers stay outside, and so do packages that only some commands load
    // (the watcher's chokidar, esbuild, the logger pino, which finds its workers by file path).
    external: ['bufferutil', 'utf-8-validate', 'chokidar', 'esbuild', 'pino'],
    // ws is CommonJS: give the bundle a require for the built-ins it asks for.
    banner: { js: "import { createRequire as __rebindRequire } from 'node:module'; const require = __rebindRequire(import.meta.url);" },
  });
  mkdirSync(CHUNKS, { recursive: true });
  // Chunks first (their names carry a hash), the entry last; each written beside and
  // renamed, so a command started meanwhile never reads half a file.
  const files = [...result.outputFiles].sort((a, b) => Number(a.path === BUNDLE) - Number(b.path === BUNDLE));
  for (const file of files) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.text);
    renameSync(tmp, file.path);
  }
  // Chunks of earlier builds are no longer referenced.
  const current = new Set(files.map((f) => f.path));
  for (const name of readdirSync(CHUNKS)) if (!current.has(path.join(CHUNKS, name))) rmSync(path.join(CHUNKS, name), { force: true });
  // The bin rebuilds when one of these is missing or newer than the bundle: the sources, this
  // builder itself (a change to how the CLI is built), and the chunks the bundle loads
  // (written before it, so never newer; a missing one is stale).
  const inputs = Object.keys(result.metafile.inputs).map((f) => path.resolve(ENGINE, f));
  const chunks = files.map((f) => f.path).filter((f) => f !== BUNDLE);
  writeFileSync(INPUTS, [...inputs, fileURLToPath(import.meta.url), ...chunks].join('\n') + '\n');
  return BUNDLE;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = await buildCli();
  process.stdout.write(`built ${path.relative(process.cwd(), file)}\n`);
}
