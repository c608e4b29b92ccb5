// The NF4 decode products over the interleaved layout (native/src/kernels/nf4_interleaved*.cc, what generation and
// batched decoding run for steps of up to 32 rows): one FMA chain per output, so every ISA body gives the scalar
// body's bits, a row's result is the same alone or beside others, and on AVX-512 and AVX2 they equal the frozen tile
// products of decode/rows_matmul (prompt chunks) bit for bit. Shapes with a partial last group of 16 outputs and T past 16.
import { afterAll, describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { isaInfo, runnableIsas, rowsRelErr, uniform } from './isa-paths.ts';

const k = testAddon.kernels;
afterAll(() => k.setIsa(isaInfo.isa));

const cases = [
  [37, 64, 1],
  [48, 192, 3],
  [576, 576, 16],
  [40, 128, 17],
  [16, 64, 32],
  [100, 256, 5],
  [200, 1536, 9],
] as const;

function weight(out: number, inn: number) {
  return k.frozenLinear({ w: uniform(out * inn, 5 + out * 3 + inn, 0.05), out, in: inn, storage: 'nf4' });
}

describe.each(runnableIsas)('NF4 interleaved decode products on the %s path', (isa) => {
  for (const [out, inn, T] of cases)
    it(`${out}x${inn}, T ${T}: the scalar body's bits, each row as alone, within 2e-6 of the float64 product`, () => {
      const h = weight(out, inn);
      const x = uniform(T * inn, 17 + T);
      k.setIsa('scalar');
      const ref = Array.from(k.decodeRows(h, x, T) as Float32Array);
      k.setIsa(isa);
      const y = k.decodeRows(h, x, T) as Float32Array;
      expect(Array.from(y)).toEqual(ref);
      for (const t of [0, T - 1]) {
        const alone = k.decodeRows(h, x.slice(t * inn, (t + 1) * inn), 1) as Float32Array;
        expect(Array.from(alone)).toEqual(ref.slice(t * out, (t + 1) * out));
      }
      const W = k.frozenLinearDequantize(h) as Float32Array;
      expect(rowsRelErr(y, W, x, T, out, inn)).toBeLessThan(2e-6);
    });
});

describe.each(runnableIsas.filter((i) => i !== 'scalar'))('NF4 interleaved decode products on the %s path', (isa) => {
  for (const [out, inn, T] of cases)
    it(`${out}x${inn}, T ${T}: equal the frozen tile products (prompt chunks) bit for bit`, () => {
      k.setIsa(isa);
      const h = weight(out, inn);
      const x = uniform(T * inn, 29 + T);
      expect(Array.from(k.decodeRows(h, x, T) as Float32Array)).toEqual(Array.from(k.decodeRowsLinear(h, x, T) as Float32Array));
    });
});
