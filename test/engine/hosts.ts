import { afterEach } from 'vitest';
import { Host, type HostOptions } from '../../server/host.ts';
import { TempProject } from '../helpers/project.ts';

// Hosts on throwaway projects, stopped and removed after each test.

const open: Array<{ host?: Host; project: TempProject }> = [];

afterEach(async () => {
  for (const { host, project } of open.splice(0)) {
    await host?.stop();
    project.cleanup();
  }
});

export async function openHost(files: Record<string, string>, options: Omit<HostOptions, 'root'> = {}): Promise<{ host: Host; project: TempProject }> {
  const project = new TempProject(files);
  const entry: { host?: Host; project: TempProject } = { project };
  open.push(entry);
  entry.host = await Host.open({ root: project.root, ...options });
  return { host: entry.host, project };
}

/** A store's current value, read through the registry as the host sees it. */
export function valueOf<T>(host: Host, store: string): T {
  return (host.registry.get(store) as unknown as { get(): T }).get();
}
