import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { ErrorCode, VmmsError } from './errors.js';
import { isRole, Role, type TokenInfo } from './protocol.js';

export const TOKENS_FORMAT_VERSION = 1;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface StoredToken extends TokenInfo {
  sha256: string;
}

export interface Caller {
  name: string;
  role: Role;
}

/**
 * Bearer tokens with roles, kept in `<dataDir>/auth/` with mode 0600. Only SHA-256 digests are
 * stored; the local administrator's token itself is written once, on first start, to
 * `auth/admin.token` (0600) so the user who runs the service can use the CLI.
 */
export class TokenStore {
  readonly dir: string;
  readonly adminTokenFile: string;
  readonly #file: string;
  #tokens: StoredToken[];

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'auth');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    this.#file = join(this.dir, 'tokens.json');
    this.adminTokenFile = join(this.dir, 'admin.token');
    this.#tokens = this.#load();
    if (
      !this.#tokens.some((token) => token.role === Role.Administrator) ||
      !existsSync(this.adminTokenFile)
    ) {
      this.#tokens = this.#tokens.filter((token) => token.name !== 'local-admin');
      const token = this.#issue('local-admin', Role.Administrator);
      writeFileAtomic(this.adminTokenFile, `${token}\n`, 0o600);
    }
  }

  /** The caller a token belongs to, or undefined. Comparison is constant-time per stored token. */
  authenticate(token: unknown): Caller | undefined {
    if (typeof token !== 'string' || token.length === 0 || token.length > 256) return undefined;
    const digest = Buffer.from(sha256(token), 'hex');
    let found: StoredToken | undefined;
    for (const stored of this.#tokens) {
      if (timingSafeEqual(digest, Buffer.from(stored.sha256, 'hex'))) found = stored;
    }
    return found === undefined ? undefined : { name: found.name, role: found.role };
  }

  create(name: string, role: Role): string {
    if (!NAME.test(name)) throw new VmmsError(ErrorCode.InvalidArgument, `token name "${name}" is not valid`);
    if (!isRole(role)) throw new VmmsError(ErrorCode.InvalidArgument, `role "${String(role)}" is not valid`);
    if (this.#tokens.some((token) => token.name === name)) {
      throw new VmmsError(ErrorCode.Conflict, `a token named "${name}" already exists`);
    }
    return this.#issue(name, role);
  }

  list(): TokenInfo[] {
    return this.#tokens.map(({ name, role, createdAt }) => ({ name, role, createdAt }));
  }

  revoke(name: string): void {
    if (!this.#tokens.some((token) => token.name === name)) {
      throw new VmmsError(ErrorCode.NotFound, `no token named "${name}"`);
    }
    const rest = this.#tokens.filter((token) => token.name !== name);
    if (!rest.some((token) => token.role === Role.Administrator)) {
      throw new VmmsError(ErrorCode.Conflict, 'the last administrator token cannot be revoked');
    }
    this.#tokens = rest;
    this.#save();
  }

  #issue(name: string, role: Role): string {
    const token = `vrd_${randomBytes(24).toString('base64url')}`;
    this.#tokens.push({ name, role, createdAt: Date.now(), sha256: sha256(token) });
    this.#save();
    return token;
  }

  #load(): StoredToken[] {
    if (!existsSync(this.#file)) return [];
    let doc: { formatVersion?: unknown; tokens?: unknown };
    try {
      doc = JSON.parse(readFileSync(this.#file, 'utf8'));
    } catch (error) {
      throw new VmmsError(ErrorCode.Corrupt, `${this.#file}: ${(error as Error).message}`);
    }
    if (doc.formatVersion !== TOKENS_FORMAT_VERSION) {
      throw new VmmsError(
        ErrorCode.VersionMismatch,
        `${this.#file}: token file format version ${String(doc.formatVersion)} is not supported (this host reads version ${TOKENS_FORMAT_VERSION})`,
      );
    }
    if (!Array.isArray(doc.tokens)) throw new VmmsError(ErrorCode.Corrupt, `${this.#file}: no token list`);
    return doc.tokens.filter(
      (t: StoredToken) =>
        typeof t?.name === 'string' && isRole(t.role) && /^[0-9a-f]{64}$/.test(String(t.sha256)),
    );
  }

  #save(): void {
    writeFileAtomic(
      this.#file,
      `${JSON.stringify({ formatVersion: TOKENS_FORMAT_VERSION, tokens: this.#tokens }, null, 2)}\n`,
      0o600,
    );
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
