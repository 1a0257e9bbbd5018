import path from 'node:path';
import { discoverModules } from '../../server/patch/modules.ts';
import { handlerExports, writeTypesFile, type ModuleHandlers } from '../../server/types-file.ts';
import { CliError } from './admin-client.ts';
import { existsSync } from 'node:fs';

// `rebind types`: rebind-env.d.ts from the files on disk, without a server.
// esbuild reads each module's export names (its metafile lists them), the
// same parser the engine builds with; nothing is evaluated.

export async function writeProjectTypes(root: string): Promise<{ file: string; handlers: number }> {
  const logicDir = path.join(root, 'logic');
  if (!existsSync(logicDir)) throw new CliError(`${logicDir} does not exist: run rebind types in the game's folder, or pass --root`, 2, 'USAGE');
  const esbuild = await import('esbuild');
  const modules: ModuleHandlers[] = [];
  for (const [module, file] of discoverModules(logicDir)) {
    const result = await esbuild.build({ entryPoints: [file], bundle: false, write: false, metafile: true, format: 'esm', outdir: path.join(root, '.rebind', 'types'), logLevel: 'silent' }).catch((err: { errors?: Array<{ text: string; location?: { line: number; column: number } }> }) => {
      const first = err.errors?.[0];
      const where = first?.location ? `:${first.location.line}:${first.location.column + 1}` : '';
      throw new CliError(`${path.relative(root, file)}${where}: ${first?.text ?? String(err)}`, 1, 'PATCH_COMPILE_ERROR');
    });
    const exports = Object.values(result.metafile!.outputs).flatMap((o) => o.exports);
    modules.push({ module, file, handlers: handlerExports(exports) });
  }
  const file = writeTypesFile(root, modules);
  return { file, handlers: modules.reduce((n, m) => n + m.handlers.length, 0) };
}
