import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { parseVmConfig, type VmConfig, validateDiskPath, validateLun, validateName } from './config.js';
import { ErrorCode, VmmsError } from './errors.js';
import { isGuid } from './guid.js';

/** Standard: disks and memory state as they are. Production: disks made consistent by the guest (VSS), no memory. */
export const CheckpointType = { Standard: 'Standard', Production: 'Production' } as const;
export type CheckpointType = (typeof CheckpointType)[keyof typeof CheckpointType];

/** A drive's content at the checkpoint: the file that holds it (frozen while the checkpoint exists). */
export interface CheckpointDisk {
  lun: number;
  path: string;
}

/** One checkpoint as `checkpoint.list` shows it. */
export interface CheckpointInfo {
  id: string;
  name: string;
  parentId: string | null;
  createdAt: number;
  type: CheckpointType;
  hasState: boolean;
  disks: CheckpointDisk[];
  /** The checkpoint the VM's present ("Now") descends from. */
  isCurrent: boolean;
}

export type ConfigSnapshot = Omit<VmConfig, 'disks'>;

export interface CheckpointRecord {
  id: string;
  name: string;
  parentId: string | null;
  createdAt: number;
  type: CheckpointType;
  hasState: boolean;
  disks: Array<CheckpointDisk & { readOnly: boolean }>;
  config: ConfigSnapshot;
}

/** A differencing file an operation makes: the drive at `lun` moves from `parent` to `path`. */
export interface CreatedFile {
  lun: number;
  path: string;
  parent: string;
}

/**
 * An operation under way, written to the tree file before it touches any disk file and cleared when
 * it is done, so that recovery after a crash knows whether to finish it or undo it.
 */
export interface PendingOperation {
  kind: 'checkpoint.create' | 'checkpoint.apply' | 'checkpoint.remove' | 'vm.backup';
  /** The checkpoint created, applied or removed. */
  checkpointId?: string;
  /** Differencing files the operation creates (none exists before it). */
  created: CreatedFile[];
  /** Apply: the configuration once applied (the VM keeps its id and name). */
  config?: VmConfig;
  /** Apply and remove: files to fold away once the operation is committed. */
  collapse?: string[];
}

/** A merge of `child` into `into` under way: the grandchildren are re-pointed, names follow it. */
export interface PendingFold {
  child: string;
  into: string;
  grandchildren: string[];
  /** `child` (with no dependents) is being deleted rather than merged; `into` is its parent. */
  discard?: boolean;
}

/** Version of the checkpoint tree file format. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/**
 * A VM's checkpoints and the differencing files VMMS made for them. `links` maps each file VMMS
 * created to its parent file: files outside it (the user's own disks) are never deleted.
 * `retained` are files no checkpoint owns that stay because several files depend on them; `detached`
 * are current files of drives taken off the VM: the user's data, never merged away or deleted.
 */
export class CheckpointTree {
  readonly vmId: string;
  current: string | null;
  checkpoints: CheckpointRecord[];
  links: Map<string, string>;
  retained: Set<string>;
  detached: Set<string>;
  pending: PendingOperation | undefined;
  fold: PendingFold | undefined;

  constructor(
    vmId: string,
    init?: {
      current: string | null;
      checkpoints: CheckpointRecord[];
      links: Map<string, string>;
      retained: Set<string>;
      detached?: Set<string>;
      pending?: PendingOperation;
      fold?: PendingFold;
    },
  ) {
    this.vmId = vmId;
    this.current = init?.current ?? null;
    this.checkpoints = init?.checkpoints ?? [];
    this.links = init?.links ?? new Map();
    this.retained = init?.retained ?? new Set();
    this.detached = init?.detached ?? new Set();
    this.pending = init?.pending;
    this.fold = init?.fold;
  }

  /** Whether nothing needs the tree file. */
  get empty(): boolean {
    return (
      this.checkpoints.length === 0 &&
      this.links.size === 0 &&
      this.retained.size === 0 &&
      this.detached.size === 0 &&
      this.pending === undefined &&
      this.fold === undefined
    );
  }

  get(id: string): CheckpointRecord | undefined {
    return this.checkpoints.find((cp) => cp.id === id);
  }

  /** By id, or by a name no other checkpoint of this VM has. */
  find(ref: string): CheckpointRecord {
    if (typeof ref !== 'string' || ref.length === 0) {
      throw new VmmsError(ErrorCode.InvalidArgument, 'a checkpoint name or id is required');
    }
    const byId = isGuid(ref) ? this.get(ref) : undefined;
    if (byId !== undefined) return byId;
    const lower = ref.trim().toLowerCase();
    const named = this.checkpoints.filter((cp) => cp.name.toLowerCase() === lower);
    if (named.length > 1) {
      throw new VmmsError(
        ErrorCode.InvalidArgument,
        `${named.length} checkpoints are named "${ref}"; name one by its id`,
      );
    }
    const [only] = named;
    if (only === undefined)
      throw new VmmsError(ErrorCode.NotFound, `no checkpoint named or with id "${ref}"`);
    return only;
  }

  children(id: string): CheckpointRecord[] {
    return this.checkpoints.filter((cp) => cp.parentId === id);
  }

  /** The checkpoint and everything below it, children before parents. */
  subtree(id: string): CheckpointRecord[] {
    const out: CheckpointRecord[] = [];
    const visit = (cp: CheckpointRecord) => {
      for (const child of this.children(cp.id)) visit(child);
      out.push(cp);
    };
    const root = this.get(id);
    if (root !== undefined) visit(root);
    return out;
  }

  /** Takes a checkpoint out of the tree; its children move up to its parent. */
  detach(id: string): void {
    const cp = this.get(id);
    if (cp === undefined) return;
    for (const child of this.children(id)) child.parentId = cp.parentId;
    if (this.current === id) this.current = cp.parentId;
    this.checkpoints = this.checkpoints.filter((c) => c.id !== id);
  }

  /** Files whose direct parent is `path` among the files VMMS created. */
  dependents(path: string): string[] {
    return [...this.links].filter(([, parent]) => parent === path).map(([child]) => child);
  }

  ownedByCheckpoint(path: string): boolean {
    return this.checkpoints.some((cp) => cp.disks.some((d) => d.path === path));
  }

  /** Whether something other than the VM's drives still needs `path` as it is. */
  keeps(path: string): boolean {
    return this.ownedByCheckpoint(path) || this.detached.has(path);
  }

  /** Every file this tree refers to: checkpoint files, retained files, created files and their parents. */
  files(): Set<string> {
    const out = new Set<string>([...this.retained, ...this.detached]);
    for (const cp of this.checkpoints) for (const d of cp.disks) out.add(d.path);
    for (const [child, parent] of this.links) {
      out.add(child);
      out.add(parent);
    }
    return out;
  }

  /** Replaces every reference to `from` (checkpoints, links, retained) by `to`. */
  rename(from: string, to: string): void {
    for (const cp of this.checkpoints) for (const d of cp.disks) if (d.path === from) d.path = to;
    for (const [child, parent] of this.links) if (parent === from) this.links.set(child, to);
    if (this.retained.delete(from)) this.retained.add(to);
    if (this.detached.delete(from)) this.detached.add(to);
  }

  /** Parents before children, siblings by creation time. */
  ordered(): CheckpointRecord[] {
    const out: CheckpointRecord[] = [];
    const byTime = (a: CheckpointRecord, b: CheckpointRecord) => a.createdAt - b.createdAt;
    const visit = (parentId: string | null) => {
      for (const cp of this.checkpoints.filter((c) => c.parentId === parentId).sort(byTime)) {
        out.push(cp);
        visit(cp.id);
      }
    };
    visit(null);
    return out;
  }

  info(cp: CheckpointRecord): CheckpointInfo {
    return {
      id: cp.id,
      name: cp.name,
      parentId: cp.parentId,
      createdAt: cp.createdAt,
      type: cp.type,
      hasState: cp.hasState,
      disks: cp.disks.map(({ lun, path }) => ({ lun, path })),
      isCurrent: this.current === cp.id,
    };
  }

  toJSON(): unknown {
    return {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      vmId: this.vmId,
      current: this.current,
      checkpoints: this.checkpoints,
      links: Object.fromEntries(this.links),
      retained: [...this.retained],
      detached: [...this.detached],
      ...(this.pending === undefined ? {} : { pending: this.pending }),
      ...(this.fold === undefined ? {} : { fold: this.fold }),
    };
  }
}

function corrupt(file: string, what: string): never {
  throw new VmmsError(ErrorCode.Corrupt, `${file}: ${what}`);
}

function parseRecord(value: unknown, file: string): CheckpointRecord {
  if (typeof value !== 'object' || value === null) corrupt(file, 'a checkpoint is not an object');
  const r = value as Record<string, unknown>;
  if (!isGuid(r['id'])) corrupt(file, 'a checkpoint id is not a GUID');
  if (r['parentId'] !== null && !isGuid(r['parentId'])) corrupt(file, 'a parentId is not a GUID');
  if (r['type'] !== 'Standard' && r['type'] !== 'Production') corrupt(file, 'a checkpoint type is unknown');
  if (typeof r['createdAt'] !== 'number' || typeof r['hasState'] !== 'boolean')
    corrupt(file, 'a checkpoint is incomplete');
  if (!Array.isArray(r['disks'])) corrupt(file, 'checkpoint disks are not a list');
  try {
    const disks = (r['disks'] as unknown[]).map((d) => {
      const disk = d as Record<string, unknown>;
      return {
        lun: validateLun(disk['lun']),
        path: validateDiskPath(disk['path']),
        readOnly: disk['readOnly'] === true,
      };
    });
    const { disks: _ignored, ...config } = parseVmConfig({ ...(r['config'] as object), disks: [] });
    return {
      id: r['id'] as string,
      name: validateName(r['name']),
      parentId: r['parentId'] as string | null,
      createdAt: r['createdAt'] as number,
      type: r['type'] as CheckpointType,
      hasState: r['hasState'] as boolean,
      disks,
      config,
    };
  } catch (error) {
    corrupt(file, (error as Error).message);
  }
}

const PENDING_KINDS = new Set(['checkpoint.create', 'checkpoint.apply', 'checkpoint.remove', 'vm.backup']);

function parsePaths(value: unknown, file: string, what: string): string[] {
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string'))
    corrupt(file, `${what} is not a list of paths`);
  try {
    return (value as string[]).map((p) => validateDiskPath(p));
  } catch (error) {
    corrupt(file, (error as Error).message);
  }
}

function parsePending(value: unknown, file: string): PendingOperation {
  if (typeof value !== 'object' || value === null) corrupt(file, 'pending is not an object');
  const r = value as Record<string, unknown>;
  if (typeof r['kind'] !== 'string' || !PENDING_KINDS.has(r['kind']))
    corrupt(file, 'pending names no known operation');
  if (r['checkpointId'] !== undefined && !isGuid(r['checkpointId']))
    corrupt(file, 'pending.checkpointId is not a GUID');
  if (!Array.isArray(r['created'])) corrupt(file, 'pending.created is not a list');
  try {
    const created = (r['created'] as unknown[]).map((c) => {
      const f = c as Record<string, unknown>;
      return {
        lun: validateLun(f['lun']),
        path: validateDiskPath(f['path']),
        parent: validateDiskPath(f['parent']),
      };
    });
    return {
      kind: r['kind'] as PendingOperation['kind'],
      ...(r['checkpointId'] === undefined ? {} : { checkpointId: r['checkpointId'] as string }),
      created,
      ...(r['config'] === undefined ? {} : { config: parseVmConfig(r['config']) }),
      ...(r['collapse'] === undefined
        ? {}
        : { collapse: parsePaths(r['collapse'], file, 'pending.collapse') }),
    };
  } catch (error) {
    if (error instanceof VmmsError && error.code === ErrorCode.Corrupt) throw error;
    corrupt(file, (error as Error).message);
  }
}

function parseFold(value: unknown, file: string): PendingFold {
  if (typeof value !== 'object' || value === null) corrupt(file, 'fold is not an object');
  const r = value as Record<string, unknown>;
  const [child, into] = parsePaths([r['child'], r['into']], file, 'fold');
  return {
    child: child!,
    into: into!,
    grandchildren: parsePaths(r['grandchildren'], file, 'fold.grandchildren'),
    ...(r['discard'] === true ? { discard: true } : {}),
  };
}

/** `<dataDir>/checkpoints/<vmId>.json` (the tree) and `<dataDir>/checkpoints/<vmId>/<cpId>.vrss` (memory states). */
export class CheckpointStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'checkpoints');
    mkdirSync(this.dir, { recursive: true });
  }

  treeFile(vmId: string): string {
    return join(this.dir, `${vmId}.json`);
  }

  stateFile(vmId: string, checkpointId: string): string {
    return join(this.dir, vmId, `${checkpointId}.vrss`);
  }

  /** Makes the directory for a VM's memory states. */
  stateDir(vmId: string): string {
    const dir = join(this.dir, vmId);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** The VM's tree; an empty one when it has never had a checkpoint. */
  load(vmId: string): CheckpointTree {
    const file = this.treeFile(vmId);
    if (!existsSync(file)) return new CheckpointTree(vmId);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      corrupt(file, `not valid JSON (${(error as Error).message})`);
    }
    if (doc['formatVersion'] !== CHECKPOINT_FORMAT_VERSION) {
      throw new VmmsError(
        ErrorCode.VersionMismatch,
        `${file}: checkpoint format version ${String(doc['formatVersion'])} is not supported (this host reads version ${CHECKPOINT_FORMAT_VERSION})`,
      );
    }
    if (!Array.isArray(doc['checkpoints'])) corrupt(file, 'checkpoints is not a list');
    const checkpoints = (doc['checkpoints'] as unknown[]).map((r) => parseRecord(r, file));
    const current = doc['current'];
    if (current !== null && (typeof current !== 'string' || !checkpoints.some((cp) => cp.id === current)))
      corrupt(file, 'current names no checkpoint');
    const links = new Map<string, string>();
    for (const [child, parent] of Object.entries((doc['links'] ?? {}) as Record<string, unknown>)) {
      if (typeof parent !== 'string') corrupt(file, 'a link is not a path');
      links.set(child, parent);
    }
    const retained = new Set<string>(
      Array.isArray(doc['retained'])
        ? (doc['retained'] as unknown[]).filter((p) => typeof p === 'string')
        : [],
    );
    const detached = new Set<string>(
      Array.isArray(doc['detached'])
        ? (doc['detached'] as unknown[]).filter((p) => typeof p === 'string')
        : [],
    );
    const pending = doc['pending'] === undefined ? undefined : parsePending(doc['pending'], file);
    const fold = doc['fold'] === undefined ? undefined : parseFold(doc['fold'], file);
    return new CheckpointTree(vmId, {
      current,
      checkpoints,
      links,
      retained,
      detached,
      ...(pending === undefined ? {} : { pending }),
      ...(fold === undefined ? {} : { fold }),
    });
  }

  save(tree: CheckpointTree): void {
    if (tree.empty) {
      this.#unlink(this.treeFile(tree.vmId));
      return;
    }
    writeFileAtomic(this.treeFile(tree.vmId), `${JSON.stringify(tree.toJSON(), null, 2)}\n`);
  }

  /** Forgets a VM's checkpoints: the tree file and the memory states (disk files are not touched). */
  remove(vmId: string): void {
    this.#unlink(this.treeFile(vmId));
    rmSync(join(this.dir, vmId), { recursive: true, force: true });
  }

  #unlink(file: string): void {
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
