import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory, TEMP_SUFFIX, writeFileAtomic } from './atomic-file.js';
import { parseVmConfig, type VmConfig } from './config.js';
import { ErrorCode, VmmsError } from './errors.js';
import { isGuid } from './guid.js';

/** Version of the on-disk VM configuration format this build reads and writes. */
export const CONFIG_FORMAT_VERSION = 1;

/** A configuration file that could not be loaded. It is left on disk untouched for a person to look at. */
export interface StoreProblem {
  file: string;
  code: 'Corrupt' | 'VersionMismatch';
  message: string;
}

export interface StoreLoadResult {
  configs: VmConfig[];
  problems: StoreProblem[];
}

/**
 * One JSON file per VM in `<dataDir>/vms/<id>.json`, each carrying `formatVersion`.
 * JSON rather than msgpack: configurations are small and rarely written, and a person
 * repairing a host can read and diff them with ordinary tools.
 */
export class ConfigStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'vms');
    mkdirSync(this.dir, { recursive: true });
  }

  fileOf(id: string): string {
    if (!isGuid(id)) throw new VmmsError(ErrorCode.InvalidArgument, `"${id}" is not a VM id`);
    return join(this.dir, `${id}.json`);
  }

  /** Reads every configuration. Leftover temporary files of interrupted writes are removed. */
  loadAll(): StoreLoadResult {
    const configs: VmConfig[] = [];
    const problems: StoreProblem[] = [];
    for (const entry of readdirSync(this.dir).sort()) {
      const file = join(this.dir, entry);
      if (entry.endsWith(TEMP_SUFFIX)) {
        unlinkSync(file);
        continue;
      }
      if (!entry.endsWith('.json')) continue;
      try {
        const config = this.decode(readFileSync(file, 'utf8'), file);
        if (`${config.id}.json` !== entry) {
          throw new VmmsError(
            ErrorCode.Corrupt,
            `${file}: holds VM ${config.id}, which does not match its file name`,
          );
        }
        configs.push(config);
      } catch (error) {
        const code =
          error instanceof VmmsError && error.code === ErrorCode.VersionMismatch
            ? 'VersionMismatch'
            : 'Corrupt';
        problems.push({ file, code, message: error instanceof Error ? error.message : String(error) });
      }
    }
    return { configs, problems };
  }

  /** Decodes one file's text; throws VersionMismatch naming both versions, or Corrupt. */
  decode(text: string, file = '<config>'): VmConfig {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      throw new VmmsError(ErrorCode.Corrupt, `${file}: not valid JSON (${(error as Error).message})`);
    }
    if (typeof doc !== 'object' || doc === null || !('formatVersion' in doc)) {
      throw new VmmsError(ErrorCode.Corrupt, `${file}: no formatVersion`);
    }
    const { formatVersion, config } = doc as { formatVersion: unknown; config: unknown };
    if (formatVersion !== CONFIG_FORMAT_VERSION) {
      throw new VmmsError(
        ErrorCode.VersionMismatch,
        `${file}: configuration format version ${String(formatVersion)} is not supported (this host reads version ${CONFIG_FORMAT_VERSION})`,
      );
    }
    try {
      return parseVmConfig(config);
    } catch (error) {
      throw new VmmsError(ErrorCode.Corrupt, `${file}: ${(error as Error).message}`);
    }
  }

  encode(config: VmConfig): string {
    return `${JSON.stringify({ formatVersion: CONFIG_FORMAT_VERSION, config }, null, 2)}\n`;
  }

  /** Durably writes a configuration: when this returns, a crash leaves this version on disk. */
  save(config: VmConfig): void {
    writeFileAtomic(this.fileOf(config.id), this.encode(config));
  }

  remove(id: string): void {
    try {
      unlinkSync(this.fileOf(id));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    fsyncDirectory(this.dir);
  }
}
