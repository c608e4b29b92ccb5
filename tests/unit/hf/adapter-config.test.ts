// adapter_config.json through the one reader (src/hf/adapter-config.ts): rsLoRA and alpha_pattern give the scaling
// PEFT computes, the same for the engine's reader (src/engine/adapter-files.ts) and the merge / diff reader
// (stages/shared/adapter-io.ts); a per-module alpha the engine cannot apply is refused there, by name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loraScaling, moduleAlpha, parseAdapterConfig, readAdapterConfig as readLoraConfig } from '../../../src/hf/adapter-config.ts';
import { readAdapterConfig as readEngineConfig } from '../../../src/engine/adapter-files.ts';
import { readPeftAdapter } from '../../../stages/shared/adapter-io.ts';
import { writeSyntheticAdapter } from '../composition/merge-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'peftmake-hf-cfg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const Q = 'base_model.model.model.layers.0.self_attn.q_proj';
const V = 'base_model.model.model.layers.0.self_attn.v_proj';
const Q1 = 'base_model.model.model.layers.1.self_attn.q_proj';
const modules = [Q, V, Q1].map((key) => ({ key, out: 8, inF: 8 }));

function adapter(name: string, extraConfig: Record<string, unknown>): string {
  const dir = join(tmp, name);
  writeSyntheticAdapter(dir, { r: 4, alpha: 8, seed: 1, modules, extraConfig });
  return dir;
}

const scalings = (dir: string): Record<string, number> => Object.fromEntries([...readPeftAdapter(dir).modules].map(([k, m]) => [k, m.scaling]));

describe('adapter_config.json: one reader', () => {
  it('rsLoRA: alpha / sqrt(r) instead of alpha / r, for the engine and for merging alike', () => {
    const plain = adapter('plain', {});
    const rs = adapter('rslora', { use_rslora: true });
    expect(loraScaling(readLoraConfig(plain))).toBe(2); // 8 / 4
    expect(loraScaling(readLoraConfig(rs))).toBe(4); // 8 / sqrt(4)
    expect(readEngineConfig(rs)).toMatchObject({ r: 4, alpha: 8, rslora: true });
    expect(scalings(plain)).toEqual({ [Q]: 2, [V]: 2, [Q1]: 2 });
    expect(scalings(rs)).toEqual({ [Q]: 4, [V]: 4, [Q1]: 4 });
  });

  it("alpha_pattern: the first key matching a module-name suffix (PEFT get_pattern_key) sets that module's alpha, with rsLoRA too", () => {
    const cfg = parseAdapterConfig(
      { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], alpha_pattern: { q_proj: 16, 'layers.1.self_attn.v_proj': 32 } },
      'x.json',
    );
    expect(moduleAlpha(cfg, 'model.layers.0.self_attn.q_proj')).toBe(16);
    expect(moduleAlpha(cfg, 'model.layers.0.self_attn.v_proj')).toBe(8);
    expect(moduleAlpha(cfg, 'model.layers.1.self_attn.v_proj')).toBe(32);
    expect(moduleAlpha(cfg, 'model.layers.0.self_attn.xq_proj')).toBe(8); // a suffix after a dot, not any suffix
    const pattern = adapter('pattern', { alpha_pattern: { 'layers.0.self_attn.q_proj': 16 } });
    expect(scalings(pattern)).toEqual({ [Q]: 4, [V]: 2, [Q1]: 2 });
    const both = adapter('pattern-rslora', { alpha_pattern: { q_proj: 16 }, use_rslora: true });
    expect(scalings(both)).toEqual({ [Q]: 8, [V]: 4, [Q1]: 8 });
  });

  it("the engine (one scaling per adapter) refuses an alpha_pattern that changes a module's alpha, naming the key; an empty or no-op one loads", () => {
    const pattern = adapter('engine-pattern', { alpha_pattern: { q_proj: 16 } });
    expect(() => readEngineConfig(pattern)).toThrow(
      /adapter_config\.json#\/alpha_pattern\/q_proj: gives modules matching 'q_proj' lora_alpha 16 \(lora_alpha is 8\); the engine applies one scaling per adapter/,
    );
    expect(readEngineConfig(adapter('engine-noop', { alpha_pattern: { q_proj: 8 } })).alpha).toBe(8);
    expect(readEngineConfig(adapter('engine-empty', { alpha_pattern: {} })).alpha).toBe(8);
  });

  it('bad values get the same message from every reader', () => {
    const bad = adapter('bad-rslora', { use_rslora: 'true' });
    const msg = /adapter_config\.json#\/use_rslora: must be true or false, got "true"/;
    expect(() => readLoraConfig(bad)).toThrow(msg);
    expect(() => readEngineConfig(bad)).toThrow(msg);
    expect(() => readPeftAdapter(bad)).toThrow(msg);
    const badPattern = adapter('bad-pattern', { alpha_pattern: { q_proj: 'sixteen' } });
    expect(() => readPeftAdapter(badPattern)).toThrow(/#\/alpha_pattern\/q_proj: must be a number, got "sixteen"/);
    const ranks = adapter('ranks', { rank_pattern: { q_proj: 8 } });
    expect(() => readEngineConfig(ranks)).toThrow(/#\/rank_pattern: per-module ranks \(rank_pattern\) are not supported/);
    expect(() => readPeftAdapter(ranks)).toThrow(/#\/rank_pattern: per-module ranks \(rank_pattern\) are not supported/);
  });
});
