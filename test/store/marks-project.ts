import { runCli, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject } from '../helpers/project.ts';
import { SESSION_MODULE, SESSION_STATE } from '../helpers/server.ts';

// The game the durability tests run as real server processes: each player
// writes increasing marks (optionally padded to make rows big), and reads
// them back through the CLI.

const STATE = `
import { defineTable } from '../server/api';
export const marks = defineTable<{ k: number; pad?: string }>('marks');
`;
const LOGIC = `
import { client, type Ctx } from '../server/api';
import { marks } from '../state/marks';
export const put = client((ctx: Ctx, p: { k: number; pad?: number }) => { marks.set(ctx.player!, { k: p.k, pad: 'x'.repeat(p.pad ?? 0) }); return p.k; });
export const read = client((ctx: Ctx) => marks.get(ctx.player!)?.k ?? 0);
export const putText = client((ctx: Ctx, p: { k: number; text: string }) => { marks.set(ctx.player!, { k: p.k, pad: p.text }); return p.k; });
`;
export const TOKEN = 'test-token-0123456789';

export function marksProject(cleanups: Array<() => Promise<void> | void>): TempProject {
  const p = new TempProject({ 'state/marks.ts': STATE, 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION_MODULE, 'logic/marks.ts': LOGIC });
  cleanups.push(() => p.cleanup());
  return p;
}

export async function startMarks(p: TempProject, fsync: string, cleanups: Array<() => Promise<void> | void>, dataDir = p.path('data'), extra: string[] = []): Promise<ServerProcess> {
  const s = await startServerProcess(['--root', p.root, '--data', dataDir, '--fsync', fsync, ...extra], { REBIND_ADMIN_TOKEN: TOKEN });
  cleanups.push(() => s.kill());
  return s;
}

/** Every player's mark as the server holds it. */
export async function readMarks(server: ServerProcess): Promise<Record<string, { k: number }>> {
  const res = await runCli(['state', 'marks', '--json', '--server', server.adminUrl, '--token', TOKEN]);
  if (res.code !== 0) throw new Error(`rebind state failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as Record<string, { k: number }>;
}
