// The optimizer-state checkpoint file (native/src/binding/optimizer_state.cc), read strictly by every trainer: a
// round trip restores the state exactly (the next step equals an uninterrupted one), and a file with a tensor missing,
// a tensor resized, a tensor the trainer lacks or no step count is refused with an E_ADAPTER error naming the file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initT5Model } from '../../src/engine/init-t5.ts';
import { type T5Example, type T5Model, T5Trainer, loadT5Model } from '../../src/engine/t5.ts';
import { hasAddon } from './fixtures.ts';

const NO_ADDON = hasAddon ? '' : 'native addon not built (npm run build:native)';

const ids = (n: number, k: number) => Int32Array.from({ length: n }, (_, i) => 3 + ((i * 5 + k * 11) % 50));
const example = (k: number): T5Example => {
  const dec = Int32Array.from([0, ...ids(4, k + 1)]);
  return { enc: ids(6, k), dec, labels: Int32Array.from([...dec.slice(1), 1]) };
};
const XS = [example(0), example(1)];

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;

/** Rewrites a safetensors file's JSON header (the data bytes stay as they are). */
function editHeader(src: string, dst: string, edit: (h: Header) => void): void {
  const buf = readFileSync(src);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Header;
  edit(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(dst, Buffer.concat([len, json, buf.subarray(8 + n)]));
}

describe.skipIf(NO_ADDON !== '')(`optimizer state files${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  let tmp: string;
  let m: T5Model;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'peftmake-optstate-'));
    const { dir } = initT5Model(join(tmp, 'model'), { vocabSize: 300, dModel: 16, dFf: 32, numLayers: 1, numHeads: 2, seed: 3, tokenizer: 'none' });
    m = await loadT5Model({ dir });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const trained = async () => {
    const a = await m.createAdapter({ r: 2, alpha: 4, targets: ['q', 'v'], seed: 0 });
    const tr = new T5Trainer(m, a, [], {});
    await tr.step([[XS], [XS]], [0.05, 0.05]);
    return { a, tr };
  };

  it('round-trips: a resumed trainer steps exactly as the uninterrupted one', async () => {
    const { a, tr } = await trained();
    const state = join(tmp, 'state.safetensors');
    const adapterDir = join(tmp, 'adapter');
    await tr.saveState(state);
    await a.save(adapterDir);
    await tr.step([[XS]], [0.05]);
    const after = a.tensors();
    const same = (x: Record<string, Float32Array>) => Object.keys(after).every((k) => x[k].every((v, i) => v === after[k][i]));
    const warm = await m.loadAdapter(adapterDir);
    const resumed = new T5Trainer(m, warm, [], {});
    await resumed.loadState(state);
    await resumed.step([[XS]], [0.05]);
    expect(same(warm.tensors())).toBe(true);
    // without the state the same step lands elsewhere (AdamW's moments and bias correction)
    const cold = await m.loadAdapter(adapterDir);
    await new T5Trainer(m, cold, [], {}).step([[XS]], [0.05]);
    expect(same(cold.tensors())).toBe(false);
  });

  it('refuses a file that does not match the trainer, naming the file and the tensor', async () => {
    const { tr } = await trained();
    const good = join(tmp, 'good.safetensors');
    await tr.saveState(good);
    const keys = Object.keys(
      JSON.parse(
        readFileSync(good)
          .subarray(8, 8 + Number(readFileSync(good).readBigUInt64LE(0)))
          .toString('utf8'),
      ),
    ).filter((k) => k !== '__metadata__');
    expect(keys.length).toBeGreaterThan(0);
    const victim = keys[0];
    const cases: [string, (h: Header) => void, RegExp][] = [
      [
        'missing',
        (h) => {
          h[`${victim}.renamed`] = h[victim];
          delete h[victim];
        },
        /optimizer tensor '.*' is missing or has the wrong size/,
      ],
      [
        'resized',
        (h) => {
          const e = h[victim] as { dtype: string; shape: number[] };
          e.dtype = 'F16'; // the same bytes read as twice as many half floats
          e.shape = [e.shape.reduce((x, y) => x * y, 1) * 2];
        },
        /is missing or has the wrong size/,
      ],
      [
        'extra',
        (h) => {
          const end = Math.max(...Object.values(h).flatMap((e) => ('data_offsets' in e ? [Number(e.data_offsets[1])] : [])));
          h['base_model.model.other.exp_avg'] = { dtype: 'F32', shape: [0], data_offsets: [end, end] };
        },
        /holds optimizer tensors for modules the trainer does not have/,
      ],
      ['no step', (h) => delete (h.__metadata__ as Record<string, string>).step, /metadata has no 'step'/],
    ];
    for (const [name, edit, message] of cases) {
      const bad = join(tmp, `bad-${name.replace(' ', '-')}.safetensors`);
      editHeader(good, bad, edit);
      const err = await tr.loadState(bad).then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err, name).not.toBeNull();
      expect(err?.code, name).toBe('E_ADAPTER');
      expect(err?.message, name).toMatch(message);
      expect(err?.message, name).toContain(bad);
    }
  });
});
