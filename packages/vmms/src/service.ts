import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { VmwpRuntime } from '@viridian/vmwp';
import { TokenStore } from './auth.js';
import { type Connection, connectInProcess } from './in-process.js';
import type { VmRuntime } from './runtime.js';
import { ApiServer, socketPathFor } from './server.js';
import type { ApiHost } from './session.js';
import { Vmms, type VmmsOptions } from './vmms.js';

/** The data directory: an explicit value, else `VIRIDIAN_DATA_DIR`, else `~/.viridian`. */
export function resolveDataDir(explicit?: string): string {
  const chosen = explicit ?? process.env['VIRIDIAN_DATA_DIR'] ?? join(homedir(), '.viridian');
  return resolve(chosen);
}

export interface HostServiceOptions extends Partial<Omit<VmmsOptions, 'dataDir' | 'runtime'>> {
  dataDir: string;
  /** What runs the VMs (default: a VmwpRuntime, each VM a child partition of the Viridian hypervisor). */
  runtime?: VmRuntime;
  productVersion?: string;
  /** Listen on the data directory's socket (default true); false serves only in-process connections. */
  listen?: boolean;
}

/** A whole host: VMMS, its tokens, and the API on the data directory's socket. */
export class HostService {
  readonly vmms: Vmms;
  readonly tokens: TokenStore;
  readonly socketPath: string;
  readonly #api: ApiHost;
  #server: ApiServer | undefined;

  private constructor(vmms: Vmms, tokens: TokenStore, productVersion: string) {
    this.vmms = vmms;
    this.tokens = tokens;
    this.socketPath = socketPathFor(vmms.dataDir);
    this.#api = { vmms, tokens, productVersion };
  }

  /** Opens the data directory, starts listening, then applies automatic start actions. */
  static async start(options: HostServiceOptions): Promise<HostService> {
    const { dataDir, runtime, productVersion, listen, ...rest } = options;
    const vmms = new Vmms({ ...rest, dataDir, runtime: runtime ?? new VmwpRuntime() });
    const tokens = new TokenStore(dataDir);
    const host = new HostService(vmms, tokens, productVersion ?? '0.0.0');
    if (listen !== false) host.#server = await ApiServer.listen(host.#api, host.socketPath);
    await vmms.startService();
    return host;
  }

  /** The local administrator's token (for in-process use such as the demo). */
  get adminTokenFile(): string {
    return this.tokens.adminTokenFile;
  }

  connectInProcess(): Connection {
    return connectInProcess(this.#api);
  }

  /** Stops listening, then applies automatic stop actions and waits for every VM to be off or saved. */
  async stop(): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
    await this.vmms.stopService();
  }
}
