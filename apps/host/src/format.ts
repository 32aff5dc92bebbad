import type { JobInfo, VmDetail, VmEvent, VmSummary } from '@viridian/vmms';
import Table from 'cli-table3';

/** Borderless, left-aligned columns like PowerShell's Get-VM. */
const PLAIN = {
  chars: {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
    'bottom-right': '',
    left: '',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '',
    'right-mid': '',
    middle: '  ',
  },
  style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
};

export function table(head: string[], rows: string[][]): string {
  const t = new Table({ head, ...PLAIN });
  const rule = head.map((h) => '-'.repeat(h.length));
  t.push(rule, ...rows);
  return t.toString().replace(/[ \t]+$/gm, '');
}

export function uptime(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

export function vmTable(
  vms: VmSummary[],
  extra?: (vm: VmSummary) => string[],
  extraHead: string[] = [],
): string {
  return table(
    ['Name', 'State', 'CPU %', 'Memory(M)', 'Uptime', 'Heartbeat', 'Status', ...extraHead],
    vms.map((vm) => [
      vm.name,
      vm.state,
      vm.cpuPercent.toFixed(0),
      String(vm.memoryMB),
      uptime(vm.uptimeMs),
      vm.heartbeat,
      vm.status,
      ...(extra?.(vm) ?? []),
    ]),
  );
}

export function vmDetail(vm: VmDetail): string {
  const c = vm.config;
  const ic = Object.entries(c.integrationServices)
    .map(([name, on]) => `${name}=${on ? 'on' : 'off'}`)
    .join(' ');
  const lines: Array<[string, string]> = [
    ['Name', vm.name],
    ['Id', vm.id],
    ['State', vm.state],
    ['Status', vm.status],
    ['Image', c.image],
    ['Memory (MB)', `${c.memoryMB} assigned, ${vm.memoryDemandMB} demand`],
    ['Processors', String(c.processorCount)],
    ['CPU', `weight ${c.cpu.relativeWeight}, reserve ${c.cpu.reservePercent}%, limit ${c.cpu.limitPercent}%`],
    ['CPU now', `${vm.cpuPercent}% (budget ${vm.cpuBudgetPercent}%)`],
    ['Uptime', uptime(vm.uptimeMs)],
    ['Heartbeat', vm.heartbeat],
    ['Integration', ic],
    ['Automatic start', `${c.automaticStartAction} after ${c.automaticStartDelaySec}s`],
    ['Automatic stop', c.automaticStopAction],
    ['Recovery', c.recoveryAction],
    ['Saved state', vm.hasSavedState ? 'yes' : 'no'],
    ['Devices', c.devices.length === 0 ? '-' : c.devices.map((d) => d.kind).join(', ')],
    [
      'Disks',
      c.disks.length === 0
        ? '-'
        : c.disks.map((d) => `${d.lun}: ${d.path}${d.readOnly ? ' (read-only)' : ''}`).join(', '),
    ],
    ['Notes', c.notes],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(width)} : ${v}`).join('\n');
}

export function eventLine(e: VmEvent): string {
  const time = new Date(e.time).toISOString().replace('T', ' ').slice(0, 19);
  const who = e.vmName === '' ? e.vmId : e.vmName;
  return `${time}  ${e.level.padEnd(7)}  ${who.padEnd(16)}  ${e.kind.padEnd(14)}  ${e.message}`;
}

export function jobLine(job: JobInfo): string {
  return `${job.kind} ${job.state.toLowerCase()} ${job.percent}%: ${job.message}`;
}
