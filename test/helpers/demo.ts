import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TempProject } from './project.ts';

/** A copy of the shipped demo game (state/ and logic/), safe to patch. */
export function demoProject(): TempProject {
  const project = new TempProject();
  for (const dir of ['state', 'logic']) {
    cpSync(fileURLToPath(new URL(`../../${dir}`, import.meta.url)), project.path(dir), { recursive: true });
  }
  return project;
}
