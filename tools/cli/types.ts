import path from 'node:path';
import { discoverModules } from '../../server/patch/modules.ts';
import { handlerExports, refusedExport, writeTypesFile, type ModuleHandlers } from '../../server/types-file.ts';
import { CliError } from './admin-client.ts';
import { existsSync } from 'node:fs';

// `rebind types`: rebind-env.d.ts from the files on disk, without a server.
// esbuild reads each module's export names (its metafile lists them), the
// same parser the engine builds with; nothing is evaluated.

export interface ProjectTypes {
  file: string;
  handlers: number;
  /** Modules left out because the server would refuse them (an export that is not a function). */
  refused: string[];
}

export async function writeProjectTypes(root: string): Promise<ProjectTypes> {
  const logicDir = path.join(root, 'logic');
  if (!existsSync(logicDir)) throw new CliError(`${logicDir} does not exist: run rebind types in the game's folder, or pass --root`, 2, 'USAGE');
  const esbuild = await import('esbuild');
  const modules: ModuleHandlers[] = [];
  const refusedModules: string[] = [];
  for (const [module, file] of discoverModules(logicDir)) {
    const result = await esbuild.build({ entryPoints: [file], bundle: false, write: false, metafile: true, format: 'esm', outdir: path.join(root, '.rebind', 'types'), logLevel: 'silent' }).catch((err: { errors?: Array<{ text: string; location?: { line: number; column: number } }> }) => {
      const first = err.errors?.[0];
      const where = first?.location ? `:${first.location.line}:${first.location.column + 1}` : '';
      throw new CliError(`${path.relative(root, file)}${where}: ${first?.text ?? String(err)}`, 1, 'PATCH_COMPILE_ERROR');
    });
    const exports = Object.values(result.metafile!.outputs).flatMap((o) => o.exports);
    // The server refuses a module with an export that is not a function: none of its names are handlers.
    const refused = refusedExport(result.outputFiles?.find((f) => f.path.endsWith('.js'))?.text ?? '');
    if (refused) {
      refusedModules.push(`${path.relative(root, file).split(path.sep).join('/')}: export "${refused.name}" is ${refused.kind}; the server refuses this module (a logic module exports only functions), so its handlers are left out`);
      continue;
    }
    modules.push({ module, file, handlers: handlerExports(exports) });
  }
  const file = writeTypesFile(root, modules);
  return { file, handlers: modules.reduce((n, m) => n + m.handlers.length, 0), refused: refusedModules };
}
