// Safetensors in TypeScript: a fully validating header parser, readers that convert F32/F16/BF16 to Float32Array,
// and an atomic writer (tensors sorted by name, header padded to 8 bytes, {"format":"pt"} metadata).
import { toBf16Array, toHalfArray } from './half-floats.ts';
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeftError, type ErrorCode } from '../errors.ts';

/** Bytes per element of every dtype the safetensors format defines. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
});

/** The dtypes this project converts to float32. */
export type FloatDtype = 'F32' | 'F16' | 'BF16';
const FLOAT_DTYPES = new Set<string>(['F32', 'F16', 'BF16']);

/** Largest header accepted (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range inside the data section (after the 8-byte length and the header). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Tensors in header order. */
  tensors: TensorEntry[];
  metadata: Record<string, string>;
  /** Absolute file offset where the data section starts (8 + header length). */
  dataStart: number;
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface ReadOptions {
  /** Error code for problems in this file: E_MODEL for base models (default), E_ADAPTER for adapters. */
  code?: ErrorCode;
}

function fail(code: ErrorCode, file: string, msg: string, hint?: string): never {
  throw new PeftError(code, `${file}: ${msg}${hint ? ` (${hint})` : ''}`, { file, hint });
}

function isSafeUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Validates a safetensors header given the 8-byte length prefix plus header bytes (`prefix`, at least 8 + n bytes)
 * and the total file size. Checks: length bounded by the file, JSON object, dtypes, shapes, offsets that lie in the
 * data section, match shape x dtype size, do not overlap, leave no holes and cover the data section exactly.
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, file: string, opts: ReadOptions = {}): SafetensorsHeader {
  const code = opts.code ?? 'E_MODEL';
  const bad = 'the file is not a valid safetensors file; re-export it with safetensors';
  if (fileSize < 8 || prefix.length < 8) fail(code, file, `file is ${fileSize} bytes, too short for the 8-byte header length`, bad);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 < 2n) fail(code, file, `header length ${n64} is too small for a JSON object`, bad);
  if (n64 > BigInt(fileSize - 8)) fail(code, file, `header length ${n64} exceeds the file size ${fileSize} (truncated file?)`, bad);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(code, file, `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`, bad);
  const n = Number(n64);
  if (prefix.length < 8 + n) fail(code, file, `only ${prefix.length - 8} of ${n} header bytes were given`);
  const text = Buffer.from(prefix.buffer, prefix.byteOffset + 8, n).toString('utf8');
  if (!text.startsWith('{')) fail(code, file, 'header does not start with "{"', bad);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(code, file, `header is not valid JSON: ${(e as Error).message}`, bad);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(code, file, 'header JSON is not an object', bad);
  const dataStart = 8 + n;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(code, file, '__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(code, file, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(code, file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') fail(code, file, `${where}: dtype is missing or not a string`);
    const width = DTYPE_BYTES[dtype];
    if (width === undefined) fail(code, file, `${where}: unknown dtype "${dtype}"`, `known: ${Object.keys(DTYPE_BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(isSafeUint)) fail(code, file, `${where}: shape must be an array of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isSafeUint)) {
      fail(code, file, `${where}: data_offsets must be [begin, end] non-negative integers`);
    }
    const [begin, end] = offs as number[];
    if (end < begin) fail(code, file, `${where}: data_offsets [${begin}, ${end}] end before begin`);
    if (end > dataLen) fail(code, file, `${where}: data_offsets [${begin}, ${end}] lie outside the ${dataLen}-byte data section (truncated file?)`);
    let numel = 1;
    for (const d of shape as number[]) numel *= d;
    const want = numel * width;
    if (!Number.isSafeInteger(want) || want !== end - begin) {
      fail(code, file, `${where}: shape [${(shape as number[]).join(', ')}] x ${dtype} needs ${want} bytes but data_offsets span ${end - begin}`);
    }
    tensors.push({ name, dtype, shape: [...(shape as number[])], begin, end });
  }
  const byStart = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of byStart) {
    if (t.begin < pos) {
      const prev = byStart.find((o) => o !== t && o.begin < t.end && t.begin < o.end && o.end > o.begin);
      fail(code, file, `tensor "${t.name}": data_offsets [${t.begin}, ${t.end}] overlap ${prev ? `tensor "${prev.name}"` : 'another tensor'}`);
    }
    if (t.begin > pos) fail(code, file, `tensor "${t.name}": hole of ${t.begin - pos} bytes before its data_offsets [${t.begin}, ${t.end}]`);
    pos = t.end;
  }
  if (pos !== dataLen) fail(code, file, `tensors cover ${pos} bytes but the data section has ${dataLen} (trailing bytes or truncated file)`);
  return { tensors, metadata, dataStart };
}

/** Reads and validates only the header of a safetensors file. */
export function readSafetensorsHeader(path: string, opts: ReadOptions = {}): SafetensorsHeader {
  const code = opts.code ?? 'E_MODEL';
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    fail(code, path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(8, size));
    readSync(fd, head, 0, head.length, 0);
    if (size < 8) return parseSafetensorsHeader(head, size, path, opts);
    const n = head.readBigUInt64LE(0);
    const want = n <= BigInt(Math.min(size - 8, MAX_HEADER_BYTES)) ? Number(n) : 0;
    const buf = Buffer.alloc(8 + want);
    head.copy(buf, 0);
    if (want > 0) readSync(fd, buf, 8, want, 8);
    return parseSafetensorsHeader(buf, size, path, opts);
  } finally {
    closeSync(fd);
  }
}

/** Converts `count` elements of a F32/F16/BF16 little-endian byte range to float32. */
export function decodeFloats(bytes: Uint8Array, dtype: string, count: number): Float32Array {
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4)); // little-endian host
  } else if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = dv.getUint16(i * 2, true) << 16;
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
  } else {
    throw new Error(`decodeFloats: unsupported dtype ${dtype}`);
  }
  return out;
}

/** IEEE half -> float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float -> IEEE half, round to nearest even (for writing test files). */
export function floatToHalf(f: number): number {
  return toHalfArray(new Float32Array([f]))[0];
}

/** float -> bfloat16 bits, round to nearest even (for writing test files). */
export function floatToBf16(f: number): number {
  return toBf16Array(new Float32Array([f]))[0];
}

/** Reads every tensor of a safetensors file as float32 (F32/F16/BF16; other dtypes are an error naming the tensor). */
export function readSafetensors(path: string, opts: ReadOptions = {}): { metadata: Record<string, string>; tensors: Map<string, Tensor> } {
  const code = opts.code ?? 'E_MODEL';
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    fail(code, path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const header = parseSafetensorsHeader(buf, buf.length, path, opts);
  const tensors = new Map<string, Tensor>();
  for (const t of header.tensors) {
    if (!FLOAT_DTYPES.has(t.dtype)) fail(code, path, `tensor "${t.name}": dtype ${t.dtype} cannot be read as floats`, 'only F32, F16 and BF16 are supported');
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const bytes = buf.subarray(header.dataStart + t.begin, header.dataStart + t.end);
    tensors.set(t.name, { shape: t.shape, data: decodeFloats(bytes, t.dtype, numel) });
  }
  return { metadata: header.metadata, tensors };
}

/** A tensor to write with its raw little-endian bytes (any dtype). */
export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

export type TensorMap = Map<string, Tensor> | Record<string, Tensor>;

function entriesOf(tensors: TensorMap): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Raw bytes of a Float32Array in little-endian order (no copy on little-endian hosts). */
function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Builds the padded header for raw tensors in the order given. Returns the header bytes (incl. 8-byte length). */
function buildHeader(list: RawTensor[], metadata: Record<string, string>): Buffer {
  const obj: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) obj.__metadata__ = metadata;
  let off = 0;
  for (const t of list) {
    obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    off += t.bytes.byteLength;
  }
  let json = JSON.stringify(obj);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hb.length);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  return out;
}

function checkRaw(list: RawTensor[], file: string, code: ErrorCode): void {
  const seen = new Set<string>();
  for (const t of list) {
    if (!t.name || t.name === '__metadata__') fail(code, file, `invalid tensor name "${t.name}"`);
    if (seen.has(t.name)) fail(code, file, `tensor "${t.name}" given twice`);
    seen.add(t.name);
    const width = DTYPE_BYTES[t.dtype];
    if (width === undefined) fail(code, file, `tensor "${t.name}": unknown dtype "${t.dtype}"`);
    if (!t.shape.every(isSafeUint)) fail(code, file, `tensor "${t.name}": shape must be non-negative integers`);
    const want = t.shape.reduce((a, b) => a * b, 1) * width;
    if (want !== t.bytes.byteLength) {
      fail(code, file, `tensor "${t.name}": shape [${t.shape.join(', ')}] x ${t.dtype} needs ${want} bytes, got ${t.bytes.byteLength}`);
    }
  }
}

/** Serialises raw tensors (sorted by name) into one Buffer. */
export function encodeSafetensorsRaw(tensors: RawTensor[], metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const list = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  checkRaw(list, '<buffer>', 'E_INTERNAL');
  const header = buildHeader(list, metadata);
  return Buffer.concat([header, ...list.map((t) => t.bytes)]);
}

/** Serialises F32 tensors (sorted by name, {"format":"pt"} metadata) into one Buffer. */
export function encodeSafetensorsF32(tensors: TensorMap, metadata: Record<string, string> = { format: 'pt' }): Buffer {
  return encodeSafetensorsRaw(toRaw(tensors), metadata);
}

function toRaw(tensors: TensorMap): RawTensor[] {
  return entriesOf(tensors).map(([name, t]) => ({ name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) }));
}

/** A tensor to write whose bytes are produced on demand (see writeSafetensorsStream). */
export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
}

/**
 * Writes tensors atomically: to a temp file in the same directory, fsync, then rename over `path`. Tensors are sorted
 * by name; `produce` is called once per tensor, in that order, so only one tensor's bytes are in memory at a time.
 */
export function writeSafetensorsStream(
  path: string,
  specs: TensorSpec[],
  produce: (spec: TensorSpec) => Uint8Array | Iterable<Uint8Array>,
  metadata: Record<string, string> = { format: 'pt' },
  opts: ReadOptions = {},
): void {
  const code = opts.code ?? 'E_MODEL';
  const list = [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sizes = list.map((t) => t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 0));
  checkRaw(
    list.map((t, i) => ({ ...t, bytes: { byteLength: sizes[i] } as Uint8Array })),
    path,
    code,
  );
  const header = buildHeader(
    list.map((t, i) => ({ ...t, bytes: { byteLength: sizes[i] } as Uint8Array })),
    metadata,
  );
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    writeAll(fd, header);
    list.forEach((t, i) => {
      const made = produce(t);
      let written = 0;
      for (const bytes of made instanceof Uint8Array ? [made] : made) {
        written += bytes.byteLength;
        if (written > sizes[i]) break;
        writeAll(fd!, bytes);
      }
      if (written !== sizes[i]) fail(code, path, `tensor "${t.name}": produced ${written} bytes, shape needs ${sizes[i]}`);
    });
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (e instanceof PeftError) throw e;
    fail(code, path, `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Writes raw tensors atomically (sorted by name, 8-byte padded header). */
export function writeSafetensorsRaw(path: string, tensors: RawTensor[], metadata: Record<string, string> = { format: 'pt' }, opts: ReadOptions = {}): void {
  const code = opts.code ?? 'E_MODEL';
  checkRaw(tensors, path, code);
  const byName = new Map(tensors.map((t) => [t.name, t.bytes]));
  writeSafetensorsStream(path, tensors, (t) => byName.get(t.name)!, metadata, opts);
}

/** Writes F32 tensors atomically (sorted by name, 8-byte padded header, {"format":"pt"} metadata). */
export function writeSafetensorsF32(path: string, tensors: TensorMap, metadata: Record<string, string> = { format: 'pt' }, opts: ReadOptions = {}): void {
  writeSafetensorsRaw(path, toRaw(tensors), metadata, opts);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) {
    const chunk = Math.min(bytes.byteLength - off, 1 << 30);
    off += writeSync(fd, bytes, off, chunk);
  }
}
