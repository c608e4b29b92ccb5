// Tests of the TypeScript safetensors reader/writer: round trips, byte layout, validation errors, fixture adapters.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeSafetensorsF32,
  floatToBf16,
  floatToHalf,
  halfToFloat,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensorsF32,
  writeSafetensorsRaw,
} from '../../../src/hf/safetensors.ts';
import { PeftError } from '../../../src/errors.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const fixtures = join(import.meta.dirname, '../../../../shared/fixtures');
const loraA = join(fixtures, 'peft-stories260K/lora-a/adapter_model.safetensors');

function tmp(): string {
  return tempDir('peft-st-');
}

/** Builds a file from a raw header object and a data section. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const text = headerText ?? JSON.stringify(header);
  const hb = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  return Buffer.concat([len, hb, data]);
}

function expectError(fn: () => unknown, code: string, fragment: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PeftError);
    expect((e as PeftError).code).toBe(code);
    expect((e as Error).message).toContain(fragment);
    return;
  }
  throw new Error(`expected ${code} containing "${fragment}", nothing was thrown`);
}

describe('safetensors writer + reader', () => {
  it('round-trips F32 tensors exactly, sorted by name, padded header, format pt metadata', () => {
    const dir = tmp();
    const p = join(dir, 'a.safetensors');
    const b = new Float32Array([1.5, -2.25, 3.0e-20, Math.PI, -0, 7]);
    const a = new Float32Array([0.1, 0.2]);
    writeSafetensorsF32(p, { 'z.weight': { shape: [2, 3], data: b }, 'a.weight': { shape: [2], data: a } });
    const buf = readFileSync(p);
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    expect(Object.keys(header)).toEqual(['__metadata__', 'a.weight', 'z.weight']);
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['a.weight']).toEqual({ dtype: 'F32', shape: [2], data_offsets: [0, 8] });
    expect(header['z.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [8, 32] });
    expect(buf.length).toBe(8 + n + 32);
    const back = readSafetensors(p);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect([...back.tensors.keys()]).toEqual(['a.weight', 'z.weight']);
    expect(back.tensors.get('z.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(back.tensors.get('z.weight')!.data)).toEqual(Array.from(b));
    expect(Array.from(back.tensors.get('a.weight')!.data)).toEqual(Array.from(a));
    // no temp files left behind
    expect(readdirSync(dir)).toEqual(['a.safetensors']);
    // the buffer encoder writes the same bytes
    expect(encodeSafetensorsF32({ 'z.weight': { shape: [2, 3], data: b }, 'a.weight': { shape: [2], data: a } }).equals(buf)).toBe(true);
  });

  it('reads F16 and BF16 as float32', () => {
    const p = join(tmp(), 'h.safetensors');
    const vals = [1, -2.5, 0.333251953125, 65504, 6.103515625e-5, 5.960464477539063e-8];
    const f16 = new Uint16Array(vals.map(floatToHalf));
    const bf = new Uint16Array([1, -2.5, 3.140625, 1e30].map(floatToBf16));
    writeSafetensorsRaw(p, [
      { name: 'h', dtype: 'F16', shape: [vals.length], bytes: new Uint8Array(f16.buffer) },
      { name: 'b', dtype: 'BF16', shape: [2, 2], bytes: new Uint8Array(bf.buffer) },
    ]);
    const t = readSafetensors(p).tensors;
    expect(Array.from(t.get('h')!.data)).toEqual(vals.map((v) => Math.fround(v)));
    const b = Array.from(t.get('b')!.data);
    expect(b.slice(0, 3)).toEqual([1, -2.5, 3.140625]);
    expect(Math.abs(b[3] - 1e30) / 1e30).toBeLessThan(4e-3);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
  });

  it('writes atomically over an existing file', () => {
    const dir = tmp();
    const p = join(dir, 'x.safetensors');
    writeFileSync(p, 'old contents');
    writeSafetensorsF32(p, new Map([['w', { shape: [1], data: new Float32Array([4]) }]]));
    expect(Array.from(readSafetensors(p).tensors.get('w')!.data)).toEqual([4]);
    expect(readdirSync(dir)).toEqual(['x.safetensors']);
  });

  it('refuses tensors whose data does not match the shape', () => {
    expectError(
      () => writeSafetensorsF32(join(tmp(), 'x.safetensors'), { w: { shape: [2, 2], data: new Float32Array(3) } }),
      'E_MODEL',
      'needs 16 bytes, got 12',
    );
  });
});

describe('safetensors validation', () => {
  const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);
  const cases: { name: string; file: () => Buffer; fragment: string }[] = [
    { name: 'too short', file: () => Buffer.from([1, 0, 0]), fragment: 'too short' },
    {
      name: 'header length beyond file',
      file: () => {
        const b = rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(1));
        b.writeBigUInt64LE(10_000n, 0);
        return b;
      },
      fragment: 'exceeds the file size',
    },
    { name: 'bad JSON', file: () => rawFile(null, new Uint8Array(), '{"w": [1,}'), fragment: 'not valid JSON' },
    { name: 'not an object', file: () => rawFile(null, new Uint8Array(), '[1, 2]   '), fragment: 'does not start with "{"' },
    {
      name: 'unknown dtype',
      file: () => rawFile({ w: { dtype: 'F7', shape: [1], data_offsets: [0, 4] } }, f32(1)),
      fragment: 'tensor "w": unknown dtype "F7"',
    },
    {
      name: 'shape vs bytes',
      file: () => rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32(1)),
      fragment: 'tensor "w": shape [2] x F32 needs 8 bytes',
    },
    {
      name: 'offsets outside',
      file: () => rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(1)),
      fragment: 'tensor "w": data_offsets [0, 8] lie outside',
    },
    {
      name: 'overlap',
      file: () => rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)),
      fragment: 'overlap',
    },
    {
      name: 'hole',
      file: () => rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)),
      fragment: 'tensor "a": hole of 4 bytes',
    },
    { name: 'trailing bytes', file: () => rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)), fragment: 'trailing bytes' },
    { name: 'negative shape', file: () => rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), fragment: 'tensor "a": shape must be' },
    { name: 'bad metadata', file: () => rawFile({ __metadata__: { format: 1 } }, new Uint8Array()), fragment: '__metadata__.format is not a string' },
  ];
  for (const c of cases) {
    it(`rejects: ${c.name}`, () => {
      const p = join(tmp(), 'bad.safetensors');
      writeFileSync(p, c.file());
      expectError(() => readSafetensors(p), 'E_MODEL', c.fragment);
      expectError(() => readSafetensorsHeader(p, { code: 'E_ADAPTER' }), 'E_ADAPTER', c.fragment);
    });
  }
  it('names the file and refuses non-float dtypes when reading floats', () => {
    const p = join(tmp(), 'i.safetensors');
    writeSafetensorsRaw(p, [{ name: 'ids', dtype: 'I64', shape: [1], bytes: new Uint8Array(8) }]);
    expect(readSafetensorsHeader(p).tensors[0]).toMatchObject({ name: 'ids', dtype: 'I64', shape: [1] });
    expectError(() => readSafetensors(p), 'E_MODEL', `${p}: tensor "ids": dtype I64 cannot be read`);
  });
  it('reports a missing file', () => {
    expectError(() => readSafetensors('/nonexistent/x.safetensors', { code: 'E_ADAPTER' }), 'E_ADAPTER', 'ENOENT');
  });
});

describe.skipIf(!existsSync(loraA))('fixture adapters (../shared/fixtures/peft-stories260K; skipped when absent)', () => {
  it('reads lora-a with PEFT names and shapes', () => {
    const { metadata, tensors } = readSafetensors(loraA);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.size).toBe(70); // 5 layers x 7 modules x (A, B)
    expect(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!.shape).toEqual([8, 172]);
    expect(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight')!.shape).toEqual([64, 8]);
    expect(tensors.get('base_model.model.model.layers.4.self_attn.k_proj.lora_B.weight')!.shape).toEqual([32, 8]);
    expect(tensors.get('base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight')!.shape).toEqual([8, 64]);
    const a = tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.data;
    expect(a.every(Number.isFinite)).toBe(true);
    expect(a.some((v) => v !== 0)).toBe(true);
    // our writer re-encodes the fixture byte for byte when the fixture follows the same conventions
    const header = readSafetensorsHeader(loraA);
    expect(header.tensors.map((t) => t.name)).toEqual([...header.tensors.map((t) => t.name)].sort());
    const re = encodeSafetensorsF32(tensors, metadata);
    expect(re.subarray(header.dataStart).equals(readFileSync(loraA).subarray(header.dataStart))).toBe(true);
  });
});
