import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Real server and CLI processes, started the way a user starts them (the
// server's start is tools/local-fleet's, which the fleet benchmarks share).

export { startServerProcess, type ServerProcess } from '../../tools/local-fleet/node-process.ts';

const CLI = fileURLToPath(new URL('../../tools/bin-rebind.mjs', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env }, ...(cwd ? { cwd } : {}) });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
