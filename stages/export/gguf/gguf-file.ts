// GGUF v3 (the llama.cpp / ggml file format): typed key-value metadata, tensor infos (name, dims in ggml order
// ne[0] = the contiguous dimension, type, offset) and tensor data, each aligned to general.alignment (32); written
// streaming, one tensor's bytes in memory at a time. Also a reader of the same layout, for tests and diffs.
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { PeftError } from '../../../src/errors.ts';

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml tensor types this writer produces, with their block size and bytes per block. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
}
export const GGML_BLOCK: Record<GgmlType, { size: number; bytes: number }> = {
  [GgmlType.F32]: { size: 1, bytes: 4 },
  [GgmlType.F16]: { size: 1, bytes: 2 },
  [GgmlType.Q4_0]: { size: 32, bytes: 18 },
  [GgmlType.Q8_0]: { size: 32, bytes: 34 },
};

export type GgufValue =
  | { type: GgufValueType.STRING; value: string }
  | {
      type:
        | GgufValueType.UINT32
        | GgufValueType.INT32
        | GgufValueType.FLOAT32
        | GgufValueType.UINT8
        | GgufValueType.INT8
        | GgufValueType.UINT16
        | GgufValueType.INT16
        | GgufValueType.FLOAT64;
      value: number;
    }
  | { type: GgufValueType.UINT64 | GgufValueType.INT64; value: bigint }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType; value: (string | number)[] };

export const kv = {
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  strs: (value: string[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value }),
  f32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value }),
  i32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value }),
};

export interface GgufTensorSpec {
  name: string;
  /** ggml order: ne[0] is the row length (the last dimension of the numpy / safetensors shape). */
  ne: number[];
  type: GgmlType;
}

export const ALIGNMENT = 32;

export function tensorBytes(t: Pick<GgufTensorSpec, 'ne' | 'type'>): number {
  const b = GGML_BLOCK[t.type];
  if (t.ne[0] % b.size !== 0)
    throw new PeftError('E_INTERNAL', `a row of ${t.ne[0]} values is not whole ${b.size}-value blocks of ggml type ${GgmlType[t.type]}`);
  return (t.ne.reduce((a, c) => a * c, 1) / b.size) * b.bytes;
}

class ByteSink {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufValueType, v: string | number | bigint | boolean): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case GgufValueType.UINT8:
        b.writeUInt8(v as number);
        return this.push(b.subarray(0, 1));
      case GgufValueType.INT8:
        b.writeInt8(v as number);
        return this.push(b.subarray(0, 1));
      case GgufValueType.UINT16:
        b.writeUInt16LE(v as number);
        return this.push(b.subarray(0, 2));
      case GgufValueType.INT16:
        b.writeInt16LE(v as number);
        return this.push(b.subarray(0, 2));
      case GgufValueType.UINT32:
        b.writeUInt32LE(v as number);
        return this.push(b.subarray(0, 4));
      case GgufValueType.INT32:
        b.writeInt32LE(v as number);
        return this.push(b.subarray(0, 4));
      case GgufValueType.FLOAT32:
        b.writeFloatLE(v as number);
        return this.push(b.subarray(0, 4));
      case GgufValueType.FLOAT64:
        b.writeDoubleLE(v as number);
        return this.push(b);
      case GgufValueType.UINT64:
        b.writeBigUInt64LE(BigInt(v as number));
        return this.push(b);
      case GgufValueType.INT64:
        b.writeBigInt64LE(BigInt(v as number));
        return this.push(b);
      case GgufValueType.BOOL:
        b.writeUInt8(v ? 1 : 0);
        return this.push(b.subarray(0, 1));
      case GgufValueType.STRING:
        return this.str(v as string);
      default:
        throw new PeftError('E_INTERNAL', `GGUF: cannot write a scalar of type ${type}`);
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Writes a GGUF file at `path` (the caller writes into a temp directory). `produce` returns each tensor's bytes,
 * called once per tensor in the order given.
 */
export function writeGguf(path: string, metadata: [string, GgufValue][], tensors: GgufTensorSpec[], produce: (t: GgufTensorSpec) => Uint8Array): void {
  const h = new ByteSink();
  h.push(Buffer.from('GGUF', 'ascii'));
  h.u32(3);
  h.u64(tensors.length);
  h.u64(metadata.length);
  for (const [key, v] of metadata) {
    h.str(key);
    h.u32(v.type);
    if (v.type === GgufValueType.ARRAY) {
      h.u32(v.itemType);
      h.u64(v.value.length);
      for (const x of v.value) h.scalar(v.itemType, x);
    } else h.scalar(v.type, v.value);
  }
  const sizes = tensors.map(tensorBytes);
  let offset = 0;
  const offsets: number[] = [];
  tensors.forEach((t, i) => {
    offsets.push(offset);
    h.str(t.name);
    h.u32(t.ne.length);
    for (const n of t.ne) h.u64(n);
    h.u32(t.type);
    h.u64(offset);
    offset += Math.ceil(sizes[i] / ALIGNMENT) * ALIGNMENT;
  });
  const pad = (ALIGNMENT - (h.length % ALIGNMENT)) % ALIGNMENT;
  h.push(Buffer.alloc(pad));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, h.bytes());
    tensors.forEach((t, i) => {
      const bytes = produce(t);
      if (bytes.byteLength !== sizes[i])
        throw new PeftError('E_INTERNAL', `GGUF ${path}: tensor ${t.name} produced ${bytes.byteLength} bytes, expected ${sizes[i]}`);
      writeSync(fd, bytes);
      const tail = (ALIGNMENT - (sizes[i] % ALIGNMENT)) % ALIGNMENT;
      if (tail && i < tensors.length - 1) writeSync(fd, Buffer.alloc(tail));
    });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface GgufContents {
  version: number;
  metadata: Map<string, unknown>;
  tensors: { name: string; ne: number[]; type: number; offset: number; data: Uint8Array }[];
}

/** Reads a whole GGUF file (small files: tests and diffs). */
export function readGguf(path: string): GgufContents {
  const buf = readFileSync(path);
  let p = 0;
  const fail = (msg: string): never => {
    throw new PeftError('E_MODEL', `${path}: not a valid GGUF file (${msg} at byte ${p})`, { file: path });
  };
  const need = (n: number) => (p + n > buf.length ? fail('truncated') : undefined);
  const u32 = () => (need(4), (p += 4), buf.readUInt32LE(p - 4));
  const u64 = () => (need(8), (p += 8), Number(buf.readBigUInt64LE(p - 8)));
  const str = () => {
    const n = u64();
    need(n);
    p += n;
    return buf.toString('utf8', p - n, p);
  };
  const scalar = (t: number): string | number | boolean => {
    switch (t) {
      case 0:
        need(1);
        return buf.readUInt8(p++);
      case 1:
        need(1);
        return buf.readInt8(p++);
      case 2:
        need(2);
        p += 2;
        return buf.readUInt16LE(p - 2);
      case 3:
        need(2);
        p += 2;
        return buf.readInt16LE(p - 2);
      case 4:
        return u32();
      case 5:
        need(4);
        p += 4;
        return buf.readInt32LE(p - 4);
      case 6:
        need(4);
        p += 4;
        return buf.readFloatLE(p - 4);
      case 7:
        need(1);
        return buf.readUInt8(p++) !== 0;
      case 8:
        return str();
      case 10:
        return u64();
      case 11:
        need(8);
        p += 8;
        return Number(buf.readBigInt64LE(p - 8));
      case 12:
        need(8);
        p += 8;
        return buf.readDoubleLE(p - 8);
      default:
        return fail(`value type ${t}`);
    }
  };
  if (buf.toString('ascii', 0, 4) !== 'GGUF') fail('magic');
  p = 4;
  const version = u32();
  const nt = u64();
  const nkv = u64();
  const metadata = new Map<string, unknown>();
  for (let i = 0; i < nkv; i++) {
    const k = str();
    const t = u32();
    if (t === 9) {
      const it = u32();
      const n = u64();
      const arr: unknown[] = [];
      for (let j = 0; j < n; j++) arr.push(scalar(it));
      metadata.set(k, arr);
    } else metadata.set(k, scalar(t));
  }
  const infos: { name: string; ne: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < nt; i++) {
    const name = str();
    const nd = u32();
    const ne: number[] = [];
    for (let j = 0; j < nd; j++) ne.push(u64());
    infos.push({ name, ne, type: u32(), offset: u64() });
  }
  const align = Number(metadata.get('general.alignment') ?? ALIGNMENT);
  const start = Math.ceil(p / align) * align;
  const tensors = infos.map((t) => {
    const size = tensorBytes({ ne: t.ne, type: t.type as GgmlType });
    if (start + t.offset + size > buf.length) fail(`tensor ${t.name} past the end`);
    return { ...t, data: new Uint8Array(buf.buffer, buf.byteOffset + start + t.offset, size) };
  });
  return { version, metadata, tensors };
}
