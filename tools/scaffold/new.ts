import { accessSync, constants, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CliError } from '../cli/cli-error.ts';
import { gameLockfile } from './lockfile.ts';
import { templateFiles } from './template.ts';

// `rebind new <dir>`: a game project of its own, outside the engine, that
// depends on this engine's folder (file:) while rebind is not published.

/** The tools a game needs, at the versions the engine itself is tested with (tsx: to run a script of the game's own, a bot say). */
const DEV_TOOLS = ['typescript', 'vitest', '@types/node', 'tsx'];

function installedVersion(engine: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(engine, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // Not installed beside the engine: take the range the engine asks for.
    const pkg = JSON.parse(readFileSync(path.join(engine, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string>; dependencies?: Record<string, string> };
    return pkg.devDependencies?.[name] ?? pkg.dependencies?.[name] ?? 'latest';
  }
}

export interface NewProject {
  dir: string;
  engineSpec: string;
  files: string[];
}

/** What went wrong with a path, in words, from a file system error's code. */
function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'not permitted here',
    EROFS: 'a read-only file system',
    ENOENT: 'this file system does not take new folders there',
    ENOTDIR: 'a file is in the way',
    ELOOP: 'a loop of symbolic links',
    ENOSPC: 'the disk is full',
  };
  return `${words[code ?? ''] ?? (err as Error).message}${code ? ` (${code})` : ''}`;
}

const cannot = (what: string, err: unknown) => new CliError(`${what}: ${why(err)}; pick another folder for the game`, 2, 'USAGE');

/**
 * Makes `dir` and the folders above it that are missing, one level at a time: each level that exists must be a
 * folder (a symbolic link is followed, and one that leads nowhere is named), and the deepest existing one must be
 * writable. A recursive mkdir on /proc/x retried ENOENT without end.
 */
function makeFolders(dir: string): void {
  const levels: string[] = [];
  for (let at = dir; ; at = path.dirname(at)) {
    levels.unshift(at);
    if (path.dirname(at) === at) break;
  }
  let parent: string | undefined;
  for (const at of levels) {
    let link;
    try {
      link = lstatSync(at, { throwIfNoEntry: false });
    } catch (err) {
      throw cannot(`cannot look at ${at}`, err);
    }
    if (link) {
      let stat;
      try {
        stat = statSync(at);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new CliError(code === 'ENOENT' ? `${at} is a symbolic link to ${readlinkSync(at)}, which does not exist: pick another folder for the game` : cannot(`cannot follow ${at}`, err).message, 2, 'USAGE');
      }
      if (!stat.isDirectory()) throw new CliError(`${at} is a file, not a folder: pick a new folder for the game`, 2, 'USAGE');
      parent = at;
      continue;
    }
    if (parent !== undefined) {
      try {
        accessSync(parent, constants.W_OK);
      } catch (err) {
        throw cannot(`cannot create folders in ${parent}`, err);
      }
      parent = undefined;
    }
    try {
      mkdirSync(at);
    } catch (err) {
      throw cannot(`cannot create the folder ${at}`, err);
    }
  }
}

export function createProject(target: string, engine: string): NewProject {
  const dir = path.resolve(target);
  const rel = path.relative(dir, engine) || '.';
  if (!path.relative(engine, dir).startsWith('..')) throw new CliError(`${dir} is inside the engine's folder ${engine}: a game lives in a folder of its own`, 2, 'USAGE');
  makeFolders(dir);
  if (readdirSync(dir).length > 0) throw new CliError(`${dir} exists and is not empty: pick a new folder`, 2, 'USAGE');
  const engineSpec = `file:${rel.split(path.sep).join('/')}`;
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9-_.]/g, '-') || 'game';
  const devDependencies = Object.fromEntries(DEV_TOOLS.map((t) => [t, installedVersion(engine, t)]));
  const files = templateFiles({ name, engineSpec, devDependencies });
  // The engine's own versions of the tools, locked: `npm install` then needs no registry (see lockfile.ts).
  const lock = gameLockfile({ engine, name, engineSpec, devDependencies });
  if (lock) files['package-lock.json'] = lock;
  for (const [file, text] of Object.entries(files)) {
    const full = path.join(dir, file);
    try {
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, text);
    } catch (err) {
      throw cannot(`cannot write ${full}`, err);
    }
  }
  return { dir, engineSpec, files: Object.keys(files) };
}

export function describeProject(p: NewProject, engine: string): string {
  const rel = path.relative(process.cwd(), p.dir);
  const cd = rel.startsWith('..') ? p.dir : rel || '.';
  return [
    `created ${p.dir}:`,
    ...p.files.map((f) => `  ${f}`),
    `package.json depends on rebind as "${p.engineSpec}" (this engine's folder, ${engine}): move the two folders together, or change that path.`,
    p.files.includes('package-lock.json')
      ? "package-lock.json locks typescript, vitest, @types/node and tsx at this engine's versions: npm install takes them from npm's cache, with no registry."
      : "no package-lock.json: this engine's lockfile lacks the tools' versions, so npm install resolves them from the registry.",
    '',
    'next:',
    `  cd ${cd}`,
    '  npm install',
    '  npm run dev        # the game on ws://127.0.0.1:8080, patched on every save',
    '  npm test           # its test, through rebind/testing',
    '  npm run typecheck  # handler names and payloads checked by tsc',
  ].join('\n');
}
