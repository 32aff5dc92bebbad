import { expect, test } from 'vitest';
import { run } from '../cli.js';
import { diskTable } from './disk.js';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('disk argument errors exit 2 with a clear line, before any service is asked', async () => {
  for (const lun of ['x', '1.5', '64', '-1', '', '0x1']) {
    const r = await cli('vm', 'disk', 'remove', 'web', lun);
    expect(r.code, lun).toBe(2);
    expect(r.stderr, lun).toMatch(/LUN must be an integer from 0 to 63/);
  }
  const badLun = await cli('vm', 'disk', 'add', 'web', 'd.vhdx', '--lun', 'two');
  expect(badLun).toMatchObject({ code: 2 });
  expect(badLun.stderr).toMatch(/--lun must be an integer from 0 to 63/);
  expect((await cli('vm', 'disk', 'add', 'web')).stderr).toMatch(/missing required argument 'path'/);
  expect(await cli('vm', 'disk', 'add', 'web', '')).toMatchObject({
    code: 2,
    stderr: 'error: the disk path is empty',
  });
  expect((await cli('vm', 'disk', 'list')).code).toBe(2);
  expect((await cli('vm', 'disk', 'add', 'web', 'd.vhdx', '--readonly')).code).toBe(2);
});

test('the disk table: LUN, path, read-only, and what the file says or why it could not be read', () => {
  const text = diskTable([
    {
      lun: 0,
      path: '/d/a.vhdx',
      readOnly: false,
      format: 'vhdx',
      type: 'dynamic',
      virtualSize: 64 * 2 ** 20,
    },
    { lun: 3, path: '/d/gone.vhd', readOnly: true, error: 'no such file' },
  ]);
  expect(text.split('\n')).toEqual([
    'LUN  Path         Read-only  Format  Type                      Size',
    '---  ----         ---------  ------  ----                      ----',
    '0    /d/a.vhdx    no         VHDX    dynamic                   64 MiB',
    '3    /d/gone.vhd  yes        -       unreadable: no such file  -',
  ]);
  expect(diskTable([])).toBe('(no disks)');
});
