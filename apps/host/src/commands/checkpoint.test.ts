import { expect, test } from 'vitest';
import { run } from '../cli.js';
import { type CheckpointNode, checkpointTree, checkpointTreeRows } from './checkpoint.js';

const at = (minute: number) => Date.UTC(2026, 0, 2, 3, minute, 0);
const cp = (id: string, parentId: string | null, minute: number, extra: Partial<CheckpointNode> = {}) => ({
  id,
  name: id,
  parentId,
  createdAt: at(minute),
  type: 'Standard',
  hasState: false,
  isCurrent: false,
  ...extra,
});

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('the tree shows children under their parent, oldest sibling first, with the current one marked', () => {
  const text = checkpointTree([
    cp('late-branch', 'root', 5, { type: 'Production' }),
    cp('root', null, 1, { hasState: true }),
    cp('early-branch', 'root', 2),
    cp('leaf', 'early-branch', 3, { isCurrent: true }),
  ]);
  expect(text.split('\n')).toEqual([
    'Name                  Type        Created (UTC)        Saved state',
    '----                  ----        -------------        -----------',
    'root                  Standard    2026-01-02 03:01:00  yes',
    '├─ early-branch       Standard    2026-01-02 03:02:00  no',
    '│  └─ leaf (current)  Standard    2026-01-02 03:03:00  no',
    '└─ late-branch        Production  2026-01-02 03:05:00  no',
  ]);
  expect(checkpointTree([])).toBe('(no checkpoints)');
});

test('hostile parent links: unknown parents become roots, loops and self-parents show each checkpoint once', () => {
  const rows = checkpointTreeRows([
    cp('orphan', 'gone', 1),
    cp('self', 'self', 2),
    cp('a', 'b', 3),
    cp('b', 'a', 4),
  ]);
  expect(rows.map((r) => r.checkpoint.id).sort()).toEqual(['a', 'b', 'orphan', 'self']);
  expect(rows.filter((r) => r.prefix === '').map((r) => r.checkpoint.id)).toEqual(['orphan', 'self', 'a']);
  expect(rows.find((r) => r.checkpoint.id === 'b')?.prefix).toBe('└─ ');
});

test('checkpoint and backup argument errors exit 2 with a clear line, before any service is asked', async () => {
  const both = await cli('vm', 'checkpoint', 'new', 'web', '--production', '--standard');
  expect(both).toMatchObject({ code: 2, stderr: 'error: give --production or --standard, not both' });
  expect((await cli('vm', 'checkpoint', 'new')).stderr).toMatch(/missing required argument 'vm'/);
  expect((await cli('vm', 'checkpoint', 'rename', 'web', 'old')).code).toBe(2);
  expect((await cli('vm', 'checkpoint', 'apply', 'web')).code).toBe(2);
  expect((await cli('vm', 'checkpoint', 'remove', 'web', 'cp', '--tree')).code).toBe(2);
  expect((await cli('vm', 'backup', 'web')).stderr).toMatch(/missing required argument 'destination-dir'/);
  expect(await cli('vm', 'backup', 'web', ' ')).toMatchObject({
    code: 2,
    stderr: 'error: the destination directory is empty',
  });
  expect((await cli('vm', 'restore-backup')).code).toBe(2);
  expect((await cli('vm', 'restore-backup', '/tmp/b', '--name')).code).toBe(2);
});
