import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { servedProject } from '../helpers/served-project.ts';

// A stop during a --verify window or a canary: the patch's audit line is
// written when it is applied (not when the answer comes at the end of the
// window), and the next start closes the cut-short verification or canary
// with a history record and a loud warning naming the module and version;
// version numbers the canary used are not used again.

const TOKEN = 'rebind_verify_interrupted_test_token';
const source = (word: string) => `import { client } from '../server/api';\nexport const which = client(() => '${word}');\n`;

const served = servedProject(TOKEN, { 'logic/m.ts': source('one') });

interface Record_ {
  id: number;
  kind: string;
  ok: boolean;
  modules: Array<{ module: string; newVersion: number | null }>;
  verify?: { patch?: number };
}
const admin = served.admin;
const which = async () => (await admin<{ result: string }>('call', { handler: 'm.which', as: 'p1' })).result;
const start = served.start;
/** Polls until `check` holds; generous, not a timing test. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const auditLines = () => (existsSync(served.project.path('data/audit.log')) ? readFileSync(served.project.path('data/audit.log'), 'utf8').split('\n').filter(Boolean) : []);

it('a kill during a --verify window: audited at apply; the next start records verify-abandoned and warns', async () => {
  await start();
  writeFileSync(served.project.path('logic/m.ts'), source('two'));
  void admin('patch', { modules: ['m'], verify: 600_000 }).catch(() => undefined);
  await until(async () => (await which()) === 'two', 'the patch to be live');
  await until(() => auditLines().some((l) => l.includes('"action":"patch"') && l.includes('m:updated:v1->v2')), 'the audit line of the patch');
  await served.server.kill();

  await start();
  expect(await which()).toBe('two');
  expect(served.server.output()).toMatch(/VERIFICATION ABANDONED: patch #\d+ \(m v2\)/);
  const history = await admin<Record_[]>('history', { n: 5 });
  const patch = history.find((r) => r.kind === 'patch' && r.modules.some((m) => m.newVersion === 2))!;
  expect(history.find((r) => r.kind === 'verify-abandoned')).toMatchObject({ verify: { patch: patch.id }, modules: [expect.objectContaining({ module: 'm', newVersion: 2 })] });
  // Closed once: a second start does not warn again.
  await served.server.kill();
  await start();
  expect(served.server.output()).not.toMatch(/VERIFICATION ABANDONED/);
}, 90_000);

it('a kill during a canary: the next start records canary-abandoned, and the next patch does not reuse its version', async () => {
  writeFileSync(served.project.path('logic/m.ts'), source('three'));
  void admin('patch', { modules: ['m'], verify: 600_000, canary: 0.5 }).catch(() => undefined);
  await until(async () => (await admin<{ canary: unknown }>('status')).canary != null, 'the canary to run');
  await served.server.kill();

  await start();
  expect(served.server.output()).toMatch(/CANARY ABANDONED: the canary of patch #\d+ \(m v3/);
  expect((await admin<Record_[]>('history', { n: 5 })).find((r) => r.kind === 'canary-abandoned')).toMatchObject({ modules: [expect.objectContaining({ module: 'm', newVersion: 3 })] });
  writeFileSync(served.project.path('logic/m.ts'), source('four'));
  const next = await admin<Record_>('patch', { modules: ['m'] });
  expect(next).toMatchObject({ ok: true, modules: [expect.objectContaining({ module: 'm', newVersion: 4 })] });
  expect(await which()).toBe('four');
}, 90_000);
