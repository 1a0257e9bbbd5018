import path from 'node:path';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { discoverModules, MODULE_NAME } from '../../server/patch/modules.ts';
import { handlerExports, refusedExport, writeTypesFile, type ModuleHandlers } from '../../server/types-file.ts';
import { CliError } from './cli-error.ts';

// `rebind types`: rebind-env.d.ts from the files on disk, without a server.
// esbuild reads each module's export names (its metafile lists them), the
// same parser the engine builds with; nothing is evaluated. Every module is
// one entry of a single build (one start of esbuild's service, not one per
// file), bundled with its helpers under logic/ so that `export * from
// './lib/x.ts'` lists the helper's names, as the server sees them.

export interface ProjectTypes {
  file: string;
  handlers: number;
  /** Modules left out because the server would refuse them (a name it cannot save, an export that is not a function). */
  refused: string[];
}

type BuildFailure = { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } }> };

export async function writeProjectTypes(root: string): Promise<ProjectTypes> {
  const logicDir = path.join(root, 'logic');
  if (!existsSync(logicDir)) throw new CliError(`${logicDir} does not exist: run rebind types in the game's folder, or pass --root`, 2, 'USAGE');
  // Required, not imported: an import of a CommonJS package has Node scan its source for export names first
  // (cjs-module-lexer), about 60 ms of a command that should take under 300.
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const refused: string[] = [];
  const rel = (file: string) => path.relative(root, file).split(path.sep).join('/');
  const entries = new Map<string, string>();
  for (const [module, file] of discoverModules(logicDir)) {
    // The server's own rule (patch/modules.ts): a module it cannot save under its name is left out of every patch.
    if (MODULE_NAME.test(module)) entries.set(path.resolve(file), module);
    else refused.push(`${rel(file)}: the module name ${JSON.stringify(module)} cannot be used (letters, digits, _ and - only, a letter or _ first, no dots); the server leaves this module out, so its handlers are left out`);
  }
  const logicReal = path.resolve(logicDir) + path.sep;
  const result = await esbuild
    .build({
      entryPoints: [...entries.keys()],
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'node',
      outdir: path.join(root, '.rebind', 'types'),
      outbase: logicDir,
      absWorkingDir: root,
      logLevel: 'silent',
      plugins: [
        {
          // Only logic/ is bundled (as the engine does); state/, rebind and packages stay imports.
          name: 'logic-only',
          setup(build) {
            build.onResolve({ filter: /.*/ }, (args) => {
              if (args.kind === 'entry-point') return undefined;
              if (!/^[./]/.test(args.path)) return { path: args.path, external: true };
              return path.resolve(args.resolveDir, args.path).startsWith(logicReal) ? undefined : { path: args.path, external: true };
            });
          },
        },
      ],
    })
    .catch((err: BuildFailure) => {
      const first = err.errors?.[0];
      const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}` : '';
      throw new CliError(`${where}${where ? ': ' : ''}${first?.text ?? String(err)}`, 1, 'PATCH_COMPILE_ERROR');
    });
  const texts = new Map(result.outputFiles.map((f) => [f.path, f.text]));
  const modules: ModuleHandlers[] = [];
  for (const [out, info] of Object.entries(result.metafile.outputs)) {
    const file = info.entryPoint && path.resolve(root, info.entryPoint);
    const module = file && entries.get(file);
    if (!module) continue;
    // The server refuses a module with an export that is not a function (`export * as ns` is an object): none of its names are handlers.
    const bad = refusedExport(texts.get(path.resolve(root, out)) ?? '');
    if (bad) {
      refused.push(`${rel(file)}: export "${bad.name}" is ${bad.kind}; the server refuses this module (a logic module exports only functions), so its handlers are left out`);
      continue;
    }
    modules.push({ module, file, handlers: handlerExports(info.exports) });
  }
  const typesFile = writeTypesFile(root, modules);
  return { file: typesFile, handlers: modules.reduce((n, m) => n + m.handlers.length, 0), refused: refused.sort() };
}
