// A small table-driven codec for fixed layouts: each layout is a list of (offset, kind) fields, from
// which its offsets object, encoder and length-checked decoder are derived. Internal to hvdef.
import { availableBytes, decoded, invalidField, oversized, truncated, type VmbusDecoded } from './errors.js';
import { GUID_SIZE, type GuidString, NIL_GUID, readGuid, writeGuid } from './guid.js';

export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'guid' | { readonly bytes: number };

export type FieldValue<K extends FieldKind> = K extends 'u64'
  ? bigint
  : K extends 'guid'
    ? GuidString
    : K extends { readonly bytes: number }
      ? Uint8Array
      : number;

export type FieldTable = Record<string, readonly [offset: number, kind: FieldKind]>;

export type FieldsOf<F extends FieldTable> = { -readonly [P in keyof F]: FieldValue<F[P][1]> };

export type OffsetsOf<F extends FieldTable> = { readonly [P in keyof F]: F[P][0] };

export interface LayoutOptions {
  /** Bytes the encoder writes by default. */
  readonly size: number;
  /** Smallest input the decoder accepts (fields past the input decode as zero). Default `size`. */
  readonly minSize?: number;
  /** Sizes the encoder may be asked to write. Default `[size]`. */
  readonly sizes?: readonly number[];
  /** Largest input the decoder accepts, if bounded. */
  readonly maxInput?: number;
  /** A u32 at offset 0 that must hold this value (channel-message type). */
  readonly tag?: number;
}

export interface Layout<F extends FieldTable> {
  readonly name: string;
  readonly fields: F;
  readonly size: number;
  readonly minSize: number;
  readonly sizes: readonly number[];
  readonly offsets: OffsetsOf<F>;
  encode(view: DataView, offset: number, fields: FieldsOf<F>, size?: number): number;
  decode(view: DataView, offset: number, length: number): VmbusDecoded<FieldsOf<F>>;
}

export function fieldWidth(kind: FieldKind): number {
  switch (kind) {
    case 'u8':
      return 1;
    case 'u16':
      return 2;
    case 'u32':
      return 4;
    case 'u64':
      return 8;
    case 'guid':
      return GUID_SIZE;
    default:
      return kind.bytes;
  }
}

function zeroValue(kind: FieldKind): number | bigint | string | Uint8Array {
  switch (kind) {
    case 'u64':
      return 0n;
    case 'guid':
      return NIL_GUID;
    case 'u8':
    case 'u16':
    case 'u32':
      return 0;
    default:
      return new Uint8Array(kind.bytes);
  }
}

export function readField(
  view: DataView,
  at: number,
  kind: FieldKind,
): number | bigint | string | Uint8Array {
  switch (kind) {
    case 'u8':
      return view.getUint8(at);
    case 'u16':
      return view.getUint16(at, true);
    case 'u32':
      return view.getUint32(at, true);
    case 'u64':
      return view.getBigUint64(at, true);
    case 'guid':
      return readGuid(view, at);
    default:
      return new Uint8Array(view.buffer, view.byteOffset + at, kind.bytes).slice();
  }
}

export function writeField(
  view: DataView,
  at: number,
  kind: FieldKind,
  value: number | bigint | string | Uint8Array,
  name: string,
): void {
  switch (kind) {
    case 'u8':
      view.setUint8(at, value as number);
      return;
    case 'u16':
      view.setUint16(at, value as number, true);
      return;
    case 'u32':
      view.setUint32(at, value as number, true);
      return;
    case 'u64':
      view.setBigUint64(at, value as bigint, true);
      return;
    case 'guid':
      writeGuid(view, at, value as string);
      return;
    default: {
      const bytes = value as Uint8Array;
      if (bytes.length > kind.bytes)
        throw new RangeError(`${name}: at most ${kind.bytes} bytes, got ${bytes.length}`);
      new Uint8Array(view.buffer, view.byteOffset + at, kind.bytes).set(bytes);
    }
  }
}

export function defineLayout<const F extends FieldTable>(
  name: string,
  fields: F,
  options: LayoutOptions,
): Layout<F> {
  const size = options.size;
  const minSize = options.minSize ?? size;
  const sizes = options.sizes ?? [size];
  const entries = Object.entries(fields) as [string, readonly [number, FieldKind]][];
  const offsets = Object.fromEntries(entries.map(([k, [off]]) => [k, off])) as OffsetsOf<F>;
  const tag = options.tag;
  const maxInput = options.maxInput;

  return {
    name,
    fields,
    size,
    minSize,
    sizes,
    offsets,
    encode(view, offset, values, encodeSize = size) {
      if (!sizes.includes(encodeSize)) throw new RangeError(`${name}: cannot encode ${encodeSize} bytes`);
      new Uint8Array(view.buffer, view.byteOffset + offset, encodeSize).fill(0);
      if (tag !== undefined) view.setUint32(offset, tag, true);
      const record = values as Record<string, number | bigint | string | Uint8Array>;
      for (const [key, [off, kind]] of entries) {
        if (off + fieldWidth(kind) > encodeSize) continue;
        writeField(view, offset + off, kind, record[key]!, key);
      }
      return encodeSize;
    },
    decode(view, offset, length) {
      if (maxInput !== undefined && length > maxInput) return oversized(name, maxInput, length);
      const avail = availableBytes(view, offset, length);
      if (avail < minSize) return truncated(name, minSize, Math.max(avail, 0));
      if (tag !== undefined) {
        const got = view.getUint32(offset, true);
        if (got !== tag) return invalidField(name, 'messageType', `expected ${tag}, got ${got}`);
      }
      const out: Record<string, number | bigint | string | Uint8Array> = {};
      for (const [key, [off, kind]] of entries) {
        out[key] = off + fieldWidth(kind) <= avail ? readField(view, offset + off, kind) : zeroValue(kind);
      }
      return decoded(out as FieldsOf<F>);
    },
  };
}
