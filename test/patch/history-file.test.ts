import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { HistoryFile } from '../../server/patch/history-file.ts';
import { History, type PatchRecord } from '../../server/patch/history.ts';
import { TempProject } from '../helpers/project.ts';

// The patch history on disk: appended a line at a time, rotated into one
// older file, and a line torn by a crash costs only that record.

let project: TempProject | undefined;
afterEach(() => project?.cleanup());

const record = (id: number): PatchRecord => ({ id, at: new Date(0).toISOString(), kind: 'patch', origin: 'cli', ok: true, noop: false, modules: [], migrations: [], durationMs: 1 });

it('rotates into history.1.jsonl and reads both back, newest last', () => {
  project = new TempProject({});
  const file = new HistoryFile(project.root, 600);
  for (let id = 1; id <= 12; id++) file.append(record(id));
  expect(existsSync(file.rotated)).toBe(true);
  // Two files at most: the oldest records are gone, the newest are all there in order.
  const ids = file.load(1000).map((r) => r.id);
  expect(ids.at(-1)).toBe(12);
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
  expect(ids.length).toBeLessThan(12);
  expect(file.load(3).map((r) => r.id)).toEqual([10, 11, 12]);
});

it('a torn last line loses that record only, and the next append starts a fresh line', () => {
  project = new TempProject({});
  const file = new HistoryFile(project.root);
  file.append(record(1));
  appendFileSync(file.file, '{"id":2,"at":"19');
  file.append(record(3));
  expect(file.load(10).map((r) => r.id)).toEqual([1, 3]);
  expect(readFileSync(file.file, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
});

it('a line in the middle that cannot be read is skipped with a warning naming it; the records around it are read back', () => {
  project = new TempProject({});
  const file = new HistoryFile(project.root);
  file.append(record(1));
  appendFileSync(file.file, 'garbage, not a record\n');
  file.append(record(3));
  const warnings: string[] = [];
  expect(file.load(10, (w) => warnings.push(w)).map((r) => r.id)).toEqual([1, 3]);
  expect(warnings).toEqual([expect.stringMatching(/^the patch history skipped 1 line\(s\) it could not read \(history\.jsonl line 2\)/)]);
});

it('no-op patches are not written, and in memory they go first: 1,050 of them leave every real record kept', () => {
  project = new TempProject({});
  const file = new HistoryFile(project.root);
  const history = new History();
  history.onRecord((r) => file.append(r));
  const meta = { origin: 'cli' as const, kind: 'patch' as const, started: 0 };
  for (let i = 0; i < 10; i++) history.ok(meta, [], []);
  for (let i = 0; i < 1050; i++) history.noop(meta, []);
  history.noop({ ...meta, kind: 'confirm' }, []);
  const kept = history.list();
  expect(kept).toHaveLength(1000);
  expect(kept.filter((r) => !r.noop).map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // A confirm is noop too, but a real record: kept, and written.
  expect(kept.at(-1)).toMatchObject({ kind: 'confirm' });
  expect(file.load(2000).map((r) => r.kind)).toEqual([...Array(10).fill('patch'), 'confirm']);
});
