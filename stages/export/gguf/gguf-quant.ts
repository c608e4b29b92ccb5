// Encodes float32 rows into ggml tensor types: F32, F16, and the 32-value block formats Q8_0 (fp16 scale +
// 32 int8) and Q4_0 (fp16 scale + 32 4-bit values, offset 8), rounding as ggml's reference quantizers do.
import { floatToHalf, halfToFloat } from '../../../src/hf/safetensors.ts';
import { toHalfArray } from '../../../src/hf/half-floats.ts';
import { GgmlType, GGML_BLOCK } from './gguf-file.ts';

export function encodeGgml(data: Float32Array, type: GgmlType): Uint8Array {
  if (type === GgmlType.F32) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (type === GgmlType.F16) {
    return new Uint8Array(toHalfArray(data).buffer);
  }
  const { size, bytes } = GGML_BLOCK[type];
  const nb = data.length / size;
  const out = Buffer.alloc(nb * bytes);
  for (let b = 0; b < nb; b++) {
    const x = data.subarray(b * size, (b + 1) * size);
    const o = b * bytes;
    if (type === GgmlType.Q8_0) {
      let amax = 0;
      for (const v of x) amax = Math.max(amax, Math.abs(v));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      out.writeUInt16LE(floatToHalf(d), o);
      for (let j = 0; j < 32; j++) out.writeInt8(Math.round(x[j] * id), o + 2 + j);
    } else {
      // Q4_0: the value of largest magnitude maps to -8; q = min(15, trunc(x / d + 8.5)).
      let amax = 0;
      let max = 0;
      for (const v of x)
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      const d = max / -8;
      const id = d ? 1 / d : 0;
      out.writeUInt16LE(floatToHalf(d), o);
      for (let j = 0; j < 16; j++) {
        const q0 = Math.min(15, Math.trunc(Math.fround(x[j] * id) + 8.5));
        const q1 = Math.min(15, Math.trunc(Math.fround(x[j + 16] * id) + 8.5));
        out[o + 2 + j] = q0 | (q1 << 4);
      }
    }
  }
  return out;
}

/** The float32 values a ggml tensor holds (for tests and diffs). */
export function decodeGgml(bytes: Uint8Array, type: GgmlType, count: number): Float32Array {
  const out = new Float32Array(count);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === GgmlType.F32) return new Float32Array(Uint8Array.from(bytes).buffer);
  if (type === GgmlType.F16) {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(buf.readUInt16LE(2 * i));
    return out;
  }
  const { bytes: bb } = GGML_BLOCK[type];
  for (let b = 0; b < count / 32; b++) {
    const o = b * bb;
    const d = halfToFloat(buf.readUInt16LE(o));
    for (let j = 0; j < 32; j++) {
      if (type === GgmlType.Q8_0) out[b * 32 + j] = d * buf.readInt8(o + 2 + j);
      else out[b * 32 + j] = d * ((j < 16 ? buf[o + 2 + j] & 15 : buf[o + 2 + j - 16] >> 4) - 8);
    }
  }
  return out;
}
