// Robustness of the native loader on hostile input: seeded random corruption of headers and configs, deep nesting
// and odd JSON never crash the process; each attempt either loads or throws E_MODEL.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initModel } from '../../src/engine/init-model.ts';
import { addon } from './addon.ts';
import { lcg } from './random.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function tryLoad(dir: string): string {
  try {
    addon.inspectModel(dir);
    return 'ok';
  } catch (e) {
    const err = e as { code?: string; message?: string };
    expect(err.code, err.message).toBe('E_MODEL');
    expect(err.message).toMatch(/\.json|\.safetensors|peft-fuzz-/);
    return 'E_MODEL';
  }
}

describe('hostile input never crashes the loader', () => {
  const dir = tempDir('peft-fuzz-');
  initModel(dir, { vocabSize: 16, hiddenSize: 8, intermediateSize: 12, numLayers: 1, numHeads: 2, tokenizer: 'none' });
  const good = readFileSync(join(dir, 'model.safetensors'));
  const goodCfg = readFileSync(join(dir, 'config.json'));
  const headerLen = Number(good.readBigUInt64LE(0));

  it('300 seeded byte corruptions of the safetensors header', () => {
    const rnd = lcg(42);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(rnd() * (8 + headerLen))] = Math.floor(rnd() * 256);
      writeFileSync(join(dir, 'model.safetensors'), b);
      seen.add(tryLoad(dir));
    }
    expect(seen.has('E_MODEL')).toBe(true);
    writeFileSync(join(dir, 'model.safetensors'), good);
    expect(tryLoad(dir)).toBe('ok');
  });

  it('300 seeded truncations and corruptions of config.json', () => {
    const rnd = lcg(7);
    for (let i = 0; i < 300; i++) {
      let b = Buffer.from(goodCfg);
      if (rnd() < 0.3) b = b.subarray(0, Math.floor(rnd() * b.length));
      else b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      writeFileSync(join(dir, 'config.json'), b);
      tryLoad(dir);
    }
    writeFileSync(join(dir, 'config.json'), goodCfg);
    expect(tryLoad(dir)).toBe('ok');
  });

  it('deeply nested, huge-number and odd-escape JSON is refused cleanly', () => {
    const cfg = (text: string) => {
      writeFileSync(join(dir, 'config.json'), text);
      try {
        addon.inspectModel(dir);
        return 'ok';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(cfg('['.repeat(100000))).toContain('nesting deeper than 512');
    expect(cfg('{"a": 1e999}')).toContain('number out of range');
    expect(cfg('{"a": "\\ud800"}')).toContain('unpaired UTF-16 surrogate');
    expect(cfg('{"a": NaN}')).toContain('unexpected character');
    expect(cfg('{"a": 1} // comment')).toContain('unexpected characters after the JSON value');
    expect(cfg('{"a": "tab\there"}')).toContain('control character in string');
    expect(cfg('{"a": 01}')).toContain('expected');
    writeFileSync(join(dir, 'config.json'), goodCfg);
  });
});
