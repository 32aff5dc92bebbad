import { readFileSync, unlinkSync } from 'node:fs';
import { deserialize, serialize } from 'node:v8';
import { writeFileAtomic } from './atomic-file.js';
import { ErrorCode, VmmsError } from './errors.js';

/** Version of the saved-state file format this build reads and writes. */
export const SAVED_STATE_FORMAT_VERSION = 1;

// "VRDNSAVE" then u32 LE format version, u32 LE header length, a JSON header, then the VM state in
// the structured-clone serialization (the same one worker messages use).
const MAGIC = Buffer.from('VRDNSAVE', 'ascii');
const FIXED = MAGIC.length + 8;
const MAX_HEADER = 64 * 1024;

export interface SavedStateHeader {
  vmId: string;
  image: string;
  savedAt: number;
}

export interface SavedState {
  header: SavedStateHeader;
  state: unknown;
}

export function encodeSavedState(header: SavedStateHeader, state: unknown): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const payload = serialize(state);
  const out = Buffer.alloc(FIXED + headerBytes.length + payload.length);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(SAVED_STATE_FORMAT_VERSION, MAGIC.length);
  out.writeUInt32LE(headerBytes.length, MAGIC.length + 4);
  headerBytes.copy(out, FIXED);
  payload.copy(out, FIXED + headerBytes.length);
  return out;
}

/** Decodes a saved-state file, refusing unknown versions (naming both) and anything malformed. */
export function decodeSavedState(bytes: Uint8Array, file = '<saved state>'): SavedState {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FIXED || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new VmmsError(ErrorCode.Corrupt, `${file}: not a saved-state file`);
  }
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== SAVED_STATE_FORMAT_VERSION) {
    throw new VmmsError(
      ErrorCode.VersionMismatch,
      `${file}: saved-state format version ${version} is not supported (this host reads version ${SAVED_STATE_FORMAT_VERSION})`,
    );
  }
  const headerLength = buf.readUInt32LE(MAGIC.length + 4);
  if (headerLength > MAX_HEADER || FIXED + headerLength > buf.length) {
    throw new VmmsError(ErrorCode.Corrupt, `${file}: header length ${headerLength} is out of range`);
  }
  let header: SavedStateHeader;
  let state: unknown;
  try {
    header = JSON.parse(buf.subarray(FIXED, FIXED + headerLength).toString('utf8')) as SavedStateHeader;
    state = deserialize(buf.subarray(FIXED + headerLength));
  } catch (error) {
    throw new VmmsError(ErrorCode.Corrupt, `${file}: ${(error as Error).message}`);
  }
  if (typeof header?.vmId !== 'string' || typeof header.image !== 'string') {
    throw new VmmsError(ErrorCode.Corrupt, `${file}: header is incomplete`);
  }
  return { header, state };
}

export function writeSavedState(file: string, header: SavedStateHeader, state: unknown): void {
  writeFileAtomic(file, encodeSavedState(header, state));
}

export function readSavedState(file: string): SavedState {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new VmmsError(ErrorCode.NotFound, `${file}: ${(error as Error).message}`);
  }
  return decodeSavedState(bytes, file);
}

export function removeSavedState(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
