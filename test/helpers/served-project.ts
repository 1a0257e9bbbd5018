import { afterAll, beforeAll } from 'vitest';
import { adminRequest } from './admin.ts';
import { startServerProcess, type ServerProcess } from './process.ts';
import { TempProject } from './project.ts';

// One project served by a real server process at a time, on one data folder:
// started, killed or stopped, and started again, the way an operator restarts
// a server. The project is made before the file's tests and removed after.

export interface ServedProject {
  readonly project: TempProject;
  /** The running process (the last one started). */
  readonly server: ServerProcess;
  /** Starts a server process on the project and its data folder, with `extra` flags. */
  start(...extra: string[]): Promise<void>;
  admin<T>(action: string, args?: Record<string, unknown>): Promise<T>;
  /** The environment that carries the admin token (for the CLI). */
  readonly env: Record<string, string>;
}

export function servedProject(token: string, files: Record<string, string>): ServedProject {
  const env = { REBIND_ADMIN_TOKEN: token };
  let project: TempProject | undefined;
  let server: ServerProcess | undefined;
  beforeAll(() => {
    project = new TempProject(files);
  });
  afterAll(async () => {
    await server?.kill();
    project?.cleanup();
  });
  return {
    env,
    get project() {
      return project!;
    },
    get server() {
      if (!server) throw new Error('no server process started yet');
      return server;
    },
    async start(...extra) {
      server = await startServerProcess(['--root', project!.root, '--data', project!.path('data'), ...extra], env);
    },
    admin: <T>(action: string, args: Record<string, unknown> = {}) => adminRequest<T>(server!.adminUrl, token, action, args),
  };
}
