// `viridian kvp`, `viridian ic` and `viridian vss`: a running VM's integration services through the
// host's API. Exit codes: 0 done, 1 the operation failed (no such item, service not connected), 2 usage.
import type { ViridianClient } from '@viridian/client';
import type { IcState, KvpItem } from '@viridian/vmms';
import { type Command, Option } from 'commander';

export interface IcCommandContext {
  connect(): Promise<ViridianClient>;
  print(human: () => string, machine: unknown): void;
}

/** Pool names as the CLI spells them, to hv_kvp pool numbers. */
const POOLS = { external: 0, guest: 1, auto: 2, 'auto-external': 3, 'auto-internal': 4 } as const;
type PoolName = keyof typeof POOLS;

const poolOption = (fallback: PoolName) =>
  new Option('--pool <pool>', 'KVP pool').choices(Object.keys(POOLS)).default(fallback);

function itemTable(items: readonly KvpItem[]): string {
  if (items.length === 0) return '(no items)';
  const width = Math.min(40, Math.max(3, ...items.map((i) => i.key.length)));
  return [`${'Key'.padEnd(width)}  Value`, ...items.map((i) => `${i.key.padEnd(width)}  ${i.value}`)].join(
    '\n',
  );
}

export function icStateText(state: IcState): string {
  const rows = state.services.map(
    (s) =>
      `${s.name.padEnd(10)} ${s.enabled ? 'enabled ' : 'disabled'} ${s.status.padEnd(22)} ${s.version ?? ''}`,
  );
  const lines = [`${'Name'.padEnd(10)} ${'Enabled '} ${'Status'.padEnd(22)} Version`, ...rows];
  if (state.heartbeat !== undefined) lines.push(`heartbeat: ${state.heartbeat}`);
  const ts = state.timeSync;
  if (ts !== undefined) {
    const offset = ts.guestClockOffsetMs === undefined ? 'unknown' : `${ts.guestClockOffsetMs} ms`;
    lines.push(
      `time sync: guest clock offset ${offset} (${ts.samplesAnswered}/${ts.samplesSent} samples answered)`,
    );
  }
  return lines.join('\n');
}

export function registerIcCommands(program: Command, ctx: IcCommandContext): void {
  const kvp = program
    .command('kvp')
    .description("read and write a running VM's KVP items (key-value pair exchange)")
    .addHelpText(
      'after',
      `
Pools: external (host writes, guest reads; default), guest (the guest's items), auto, auto-external,
auto-internal. Reading needs a viewer token, writing an operator token.

Examples:
  viridian kvp set web Role frontend          the guest sees Role=frontend
  viridian kvp get web --pool guest           every item the guest publishes
  viridian kvp get web Role
  viridian kvp remove web Role`,
    );
  kvp
    .command('get')
    .argument('<vm>', 'VM name or id')
    .argument('[key]', 'item key (all items of the pool without it)')
    .addOption(poolOption('external'))
    .description('show one item, or every item of a pool')
    .action(async (vm: string, key: string | undefined, o: { pool: PoolName }) => {
      const c = await ctx.connect();
      const pool = POOLS[o.pool];
      if (key === undefined) {
        const items = await c.listKvp(vm, { pool });
        ctx.print(() => itemTable(items), items);
      } else {
        const item = await c.getKvp(vm, key, { pool });
        ctx.print(() => item.value, item);
      }
    });
  kvp
    .command('set')
    .argument('<vm>', 'VM name or id')
    .argument('<key>', 'item key')
    .argument('<value>', 'item value')
    .addOption(poolOption('external'))
    .description('set an item the guest can read')
    .action(async (vm: string, key: string, value: string, o: { pool: PoolName }) => {
      await (await ctx.connect()).setKvp(vm, key, value, { pool: POOLS[o.pool] });
      ctx.print(() => `${key} set`, { vm, key, value, pool: o.pool });
    });
  kvp
    .command('remove')
    .argument('<vm>', 'VM name or id')
    .argument('<key>', 'item key')
    .addOption(poolOption('external'))
    .description('remove an item')
    .action(async (vm: string, key: string, o: { pool: PoolName }) => {
      await (await ctx.connect()).removeKvp(vm, key, { pool: POOLS[o.pool] });
      ctx.print(() => `${key} removed`, { vm, key, pool: o.pool, removed: true });
    });

  const ic = program.command('ic').description("a running VM's integration services");
  ic.command('list')
    .argument('<vm>', 'VM name or id')
    .description('state of each integration service, with the guest clock offset from time sync')
    .action(async (vm: string) => {
      const state = await (await ctx.connect()).listIntegrationServices(vm);
      ctx.print(() => icStateText(state), state);
    });

  const vss = program.command('vss').description("freeze and thaw a running VM's file systems (VSS)");
  for (const op of ['freeze', 'thaw'] as const) {
    vss
      .command(op)
      .argument('<vm>', 'VM name or id')
      .description(
        op === 'freeze' ? "ask the guest's VSS writers to freeze" : 'let the guest run its writers again',
      )
      .action(async (vm: string) => {
        const c = await ctx.connect();
        const result = op === 'freeze' ? await c.freezeVss(vm) : await c.thawVss(vm);
        ctx.print(() => `${vm}: ${op === 'freeze' ? 'frozen' : 'thawed'}`, { vm, ...result });
      });
  }
}
