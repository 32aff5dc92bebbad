import { ErrorCode, VmmsError } from './errors.js';
import { isGuid, newGuid } from './guid.js';

/** What the host does with a VM when the host service starts (Hyper-V's AutomaticStartAction). */
export const AutomaticStartAction = {
  Nothing: 'Nothing',
  StartIfRunning: 'StartIfRunning',
  Start: 'Start',
} as const;
export type AutomaticStartAction = (typeof AutomaticStartAction)[keyof typeof AutomaticStartAction];

/** What the host does with a running VM when the host service stops (Hyper-V's AutomaticStopAction). */
export const AutomaticStopAction = { TurnOff: 'TurnOff', Save: 'Save', ShutDown: 'ShutDown' } as const;
export type AutomaticStopAction = (typeof AutomaticStopAction)[keyof typeof AutomaticStopAction];

/** What the host does when a VM's worker or guest fails: start it again, or leave it Critical. */
export const RecoveryAction = { None: 'None', Restart: 'Restart' } as const;
export type RecoveryAction = (typeof RecoveryAction)[keyof typeof RecoveryAction];

export interface IntegrationServices {
  heartbeat: boolean;
  kvp: boolean;
  timesync: boolean;
  shutdown: boolean;
  vss: boolean;
}

export type DeviceSetting = string | number | boolean;

/** A device attached to the VM. Kinds are open: the worker that runs the VM decides what it supports. */
export interface DeviceConfig {
  kind: string;
  settings: Record<string, DeviceSetting>;
}

export interface CpuSettings {
  /** Share of one host processor kept for this VM, 0–100. */
  reservePercent: number;
  /** Most this VM may use of one host processor, 1–100. */
  limitPercent: number;
  /** Weight against other VMs under contention, 1–10000. */
  relativeWeight: number;
}

/** A virtual disk on the VM's synthetic SCSI controller (path 0, target 0, this LUN). */
export interface DiskAttachment {
  /** 0–63, unique within the VM. */
  lun: number;
  /** Absolute path of a .vhd/.vhdx/.avhd/.avhdx file: the drive's current file. */
  path: string;
  readOnly: boolean;
}

export interface VmConfig {
  id: string;
  name: string;
  memoryMB: number;
  processorCount: number;
  cpu: CpuSettings;
  /** A built-in guest image name, or an absolute path to a guest program module. */
  image: string;
  devices: DeviceConfig[];
  integrationServices: IntegrationServices;
  automaticStartAction: AutomaticStartAction;
  automaticStartDelaySec: number;
  automaticStopAction: AutomaticStopAction;
  recoveryAction: RecoveryAction;
  notes: string;
  /** Changed only through the disk commands (attach, detach) and checkpoints, never by `set`. */
  disks: DiskAttachment[];
}

/** What a caller gives to create a VM: a name and an image; everything else has Hyper-V's defaults. */
export type VmSpec = Partial<Omit<VmConfig, 'id' | 'cpu' | 'integrationServices' | 'disks'>> & {
  name: string;
  image: string;
  cpu?: Partial<CpuSettings>;
  integrationServices?: Partial<IntegrationServices>;
};

/** Changes to an existing VM; absent fields stay as they are. */
export type VmChanges = Partial<Omit<VmConfig, 'id' | 'cpu' | 'integrationServices' | 'disks'>> & {
  cpu?: Partial<CpuSettings>;
  integrationServices?: Partial<IntegrationServices>;
};

/** Fields that only change while the VM is off (or has no saved state that depends on them). */
export const OFFLINE_ONLY_FIELDS = ['memoryMB', 'processorCount', 'image', 'devices'] as const;

export const LIMITS = {
  nameMaxLength: 100,
  memoryMinMB: 32,
  memoryMaxMB: 1_048_576,
  processorMax: 64,
  weightMin: 1,
  weightMax: 10_000,
  notesMaxLength: 4096,
  startDelayMaxSec: 86_400,
  devicesMax: 64,
  deviceSettingsMax: 32,
  imageMaxLength: 1024,
  disksMax: 64,
  lunMax: 63,
  diskPathMaxLength: 4096,
} as const;

export const DEFAULTS = {
  memoryMB: 512,
  processorCount: 1,
  cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 100 },
  integrationServices: { heartbeat: true, kvp: true, timesync: true, shutdown: true, vss: true },
  automaticStartAction: AutomaticStartAction.StartIfRunning,
  automaticStartDelaySec: 0,
  automaticStopAction: AutomaticStopAction.Save,
  recoveryAction: RecoveryAction.None,
} as const;

const IC_NAMES = ['heartbeat', 'kvp', 'timesync', 'shutdown', 'vss'] as const;
const SPEC_KEYS = new Set([
  'name',
  'memoryMB',
  'processorCount',
  'cpu',
  'image',
  'devices',
  'integrationServices',
  'automaticStartAction',
  'automaticStartDelaySec',
  'automaticStopAction',
  'recoveryAction',
  'notes',
]);

function invalid(message: string): never {
  throw new VmmsError(ErrorCode.InvalidArgument, message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) invalid(`${field} must be an integer`);
  if (value < min || value > max) invalid(`${field} must be between ${min} and ${max} (got ${value})`);
  return value;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: Record<string, T>): T {
  const values = Object.values(allowed);
  if (typeof value !== 'string' || !values.includes(value as T)) {
    invalid(`${field} must be one of ${values.join(', ')}`);
  }
  return value as T;
}

// Control characters would break table output and logs; a name is shown everywhere.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

export function validateName(value: unknown): string {
  if (typeof value !== 'string') invalid('name must be a string');
  const name = value.trim();
  if (name.length === 0) invalid('name must not be empty');
  if (name.length > LIMITS.nameMaxLength) invalid(`name must be at most ${LIMITS.nameMaxLength} characters`);
  if (CONTROL.test(name)) invalid('name must not contain control characters');
  return name;
}

const BUILTIN_IMAGE = /^[a-z][a-z0-9-]{0,63}$/;

/** An image is a built-in name (`counter`) or an absolute module path (`/opt/guests/app.js`). */
export function validateImage(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) invalid('image must be a non-empty string');
  if (value.length > LIMITS.imageMaxLength)
    invalid(`image must be at most ${LIMITS.imageMaxLength} characters`);
  if (CONTROL.test(value)) invalid('image must not contain control characters');
  if (BUILTIN_IMAGE.test(value) || value.startsWith('/') || value.startsWith('file:')) return value;
  invalid(`image must be a built-in image name or an absolute module path (got "${value}")`);
}

function validateCpu(value: unknown, base: CpuSettings): CpuSettings {
  if (!isRecord(value)) invalid('cpu must be an object');
  for (const key of Object.keys(value)) {
    if (!(key in base)) invalid(`cpu.${key} is not a known setting`);
  }
  const cpu: CpuSettings = {
    reservePercent:
      value['reservePercent'] === undefined
        ? base.reservePercent
        : integer(value['reservePercent'], 'cpu.reservePercent', 0, 100),
    limitPercent:
      value['limitPercent'] === undefined
        ? base.limitPercent
        : integer(value['limitPercent'], 'cpu.limitPercent', 1, 100),
    relativeWeight:
      value['relativeWeight'] === undefined
        ? base.relativeWeight
        : integer(value['relativeWeight'], 'cpu.relativeWeight', LIMITS.weightMin, LIMITS.weightMax),
  };
  if (cpu.reservePercent > cpu.limitPercent) {
    invalid(
      `cpu.reservePercent (${cpu.reservePercent}) must not exceed cpu.limitPercent (${cpu.limitPercent})`,
    );
  }
  return cpu;
}

function validateIntegrationServices(value: unknown, base: IntegrationServices): IntegrationServices {
  if (!isRecord(value)) invalid('integrationServices must be an object');
  const out = { ...base };
  for (const [key, flag] of Object.entries(value)) {
    if (!(IC_NAMES as readonly string[]).includes(key)) {
      invalid(`integrationServices.${key} is not a known service (${IC_NAMES.join(', ')})`);
    }
    if (typeof flag !== 'boolean') invalid(`integrationServices.${key} must be true or false`);
    out[key as keyof IntegrationServices] = flag;
  }
  return out;
}

const DEVICE_KIND = /^[a-z][a-z0-9-]{0,31}$/;
const SETTING_KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function validateDevices(value: unknown): DeviceConfig[] {
  if (!Array.isArray(value)) invalid('devices must be an array');
  if (value.length > LIMITS.devicesMax) invalid(`devices must have at most ${LIMITS.devicesMax} entries`);
  return value.map((device: unknown, index) => {
    const where = `devices[${index}]`;
    if (!isRecord(device)) invalid(`${where} must be an object`);
    const kind = device['kind'];
    if (typeof kind !== 'string' || !DEVICE_KIND.test(kind))
      invalid(`${where}.kind must be a lowercase identifier`);
    const settings = device['settings'] ?? {};
    if (!isRecord(settings)) invalid(`${where}.settings must be an object`);
    const entries = Object.entries(settings);
    if (entries.length > LIMITS.deviceSettingsMax) invalid(`${where}.settings has too many entries`);
    const out: Record<string, DeviceSetting> = {};
    for (const [key, setting] of entries) {
      if (!SETTING_KEY.test(key)) invalid(`${where}.settings key "${key}" is not a valid identifier`);
      const ok =
        typeof setting === 'boolean' ||
        (typeof setting === 'number' && Number.isFinite(setting)) ||
        (typeof setting === 'string' && setting.length <= 1024);
      if (!ok) invalid(`${where}.settings.${key} must be a boolean, finite number or short string`);
      out[key] = setting as DeviceSetting;
    }
    return { kind, settings: out };
  });
}

const DISK_EXTENSION = /\.(vhd|vhdx|avhd|avhdx)$/i;

/** A disk file path: absolute, no control characters, a virtual-disk extension. The file is checked when attached. */
export function validateDiskPath(value: unknown, field = 'path'): string {
  if (typeof value !== 'string' || value.length === 0) invalid(`${field} must be a non-empty string`);
  if (value.length > LIMITS.diskPathMaxLength)
    invalid(`${field} must be at most ${LIMITS.diskPathMaxLength} characters`);
  if (CONTROL.test(value)) invalid(`${field} must not contain control characters`);
  if (!value.startsWith('/')) invalid(`${field} must be an absolute path (got "${value}")`);
  if (!DISK_EXTENSION.test(value)) invalid(`${field} must end in .vhd, .vhdx, .avhd or .avhdx`);
  return value;
}

export function validateLun(value: unknown, field = 'lun'): number {
  return integer(value, field, 0, LIMITS.lunMax);
}

/** The whole disk list: at most 64 entries, LUNs unique, each path valid. */
export function validateDisks(value: unknown): DiskAttachment[] {
  if (!Array.isArray(value)) invalid('disks must be an array');
  if (value.length > LIMITS.disksMax) invalid(`disks must have at most ${LIMITS.disksMax} entries`);
  const luns = new Set<number>();
  return value.map((disk: unknown, index) => {
    const where = `disks[${index}]`;
    if (!isRecord(disk)) invalid(`${where} must be an object`);
    for (const key of Object.keys(disk)) {
      if (key !== 'lun' && key !== 'path' && key !== 'readOnly')
        invalid(`${where}.${key} is not a disk setting`);
    }
    const lun = validateLun(disk['lun'], `${where}.lun`);
    if (luns.has(lun)) invalid(`${where}.lun ${lun} is used twice`);
    luns.add(lun);
    const path = validateDiskPath(disk['path'], `${where}.path`);
    if (typeof disk['readOnly'] !== 'boolean') invalid(`${where}.readOnly must be true or false`);
    return { lun, path, readOnly: disk['readOnly'] };
  });
}

function validateNotes(value: unknown): string {
  if (typeof value !== 'string') invalid('notes must be a string');
  if (value.length > LIMITS.notesMaxLength)
    invalid(`notes must be at most ${LIMITS.notesMaxLength} characters`);
  return value;
}

/** Applies validated changes (or a creation spec) over a base configuration. */
function merge(base: VmConfig, input: Record<string, unknown>): VmConfig {
  for (const key of Object.keys(input)) {
    if (key === 'disks')
      invalid('disks change only through the disk commands (vm.disk.attach, vm.disk.detach)');
    if (!SPEC_KEYS.has(key)) invalid(`${key} is not a VM setting`);
  }
  const next: VmConfig = {
    ...base,
    disks: base.disks.map((disk) => ({ ...disk })),
    cpu: { ...base.cpu },
    integrationServices: { ...base.integrationServices },
  };
  if (input['name'] !== undefined) next.name = validateName(input['name']);
  if (input['memoryMB'] !== undefined) {
    next.memoryMB = integer(input['memoryMB'], 'memoryMB', LIMITS.memoryMinMB, LIMITS.memoryMaxMB);
    if (next.memoryMB % 2 !== 0) invalid('memoryMB must be a multiple of 2');
  }
  if (input['processorCount'] !== undefined) {
    next.processorCount = integer(input['processorCount'], 'processorCount', 1, LIMITS.processorMax);
  }
  if (input['cpu'] !== undefined) next.cpu = validateCpu(input['cpu'], base.cpu);
  if (input['image'] !== undefined) next.image = validateImage(input['image']);
  if (input['devices'] !== undefined) next.devices = validateDevices(input['devices']);
  if (input['integrationServices'] !== undefined) {
    next.integrationServices = validateIntegrationServices(
      input['integrationServices'],
      base.integrationServices,
    );
  }
  if (input['automaticStartAction'] !== undefined) {
    next.automaticStartAction = oneOf(
      input['automaticStartAction'],
      'automaticStartAction',
      AutomaticStartAction,
    );
  }
  if (input['automaticStartDelaySec'] !== undefined) {
    next.automaticStartDelaySec = integer(
      input['automaticStartDelaySec'],
      'automaticStartDelaySec',
      0,
      LIMITS.startDelayMaxSec,
    );
  }
  if (input['automaticStopAction'] !== undefined) {
    next.automaticStopAction = oneOf(
      input['automaticStopAction'],
      'automaticStopAction',
      AutomaticStopAction,
    );
  }
  if (input['recoveryAction'] !== undefined) {
    next.recoveryAction = oneOf(input['recoveryAction'], 'recoveryAction', RecoveryAction);
  }
  if (input['notes'] !== undefined) next.notes = validateNotes(input['notes']);
  return next;
}

/** Builds a complete configuration from a creation spec, validating every field as untrusted input. */
export function createVmConfig(spec: unknown, id: string = newGuid()): VmConfig {
  if (!isRecord(spec)) invalid('the VM specification must be an object');
  if (spec['name'] === undefined) invalid('name is required');
  if (spec['image'] === undefined) invalid('image is required');
  const base: VmConfig = {
    id,
    name: '',
    memoryMB: DEFAULTS.memoryMB,
    processorCount: DEFAULTS.processorCount,
    cpu: { ...DEFAULTS.cpu },
    image: '',
    devices: [],
    integrationServices: { ...DEFAULTS.integrationServices },
    automaticStartAction: DEFAULTS.automaticStartAction,
    automaticStartDelaySec: DEFAULTS.automaticStartDelaySec,
    automaticStopAction: DEFAULTS.automaticStopAction,
    recoveryAction: DEFAULTS.recoveryAction,
    notes: '',
    disks: [],
  };
  return merge(base, spec);
}

/** Applies changes to a configuration, validating them as untrusted input. Ids never change. */
export function applyVmChanges(config: VmConfig, changes: unknown): VmConfig {
  if (!isRecord(changes)) invalid('changes must be an object');
  return merge(config, changes);
}

/** Checks a whole configuration read back from disk or received from elsewhere. */
export function parseVmConfig(value: unknown): VmConfig {
  if (!isRecord(value)) invalid('a VM configuration must be an object');
  if (!isGuid(value['id'])) invalid('id must be a lowercase GUID');
  const { id, disks, ...rest } = value;
  const config = createVmConfig(rest, id as string);
  for (const key of [...SPEC_KEYS, 'cpu', 'integrationServices']) {
    if (rest[key] === undefined) invalid(`${key} is missing`);
  }
  // Configurations written before disks existed have none.
  config.disks = disks === undefined ? [] : validateDisks(disks);
  return config;
}

/** Which of the offline-only fields a change touches. */
export function offlineFieldsIn(changes: VmChanges): string[] {
  return OFFLINE_ONLY_FIELDS.filter((field) => changes[field] !== undefined);
}
