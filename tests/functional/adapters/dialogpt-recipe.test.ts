// The DialoGPT-medium platform recipe (examples/dialogpt-platform) validates, names GPT-2's PEFT targets, and its
// data files are well formed; building it needs the hub (microsoft/DialoGPT-medium), so CI checks the plan only.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const DIR = join(ROOT, 'examples', 'dialogpt-platform');

it('the DialoGPT-medium platform recipe validates: domain + support adapters, stacked, evaluated, exported', () => {
  const out = execFileSync(process.execPath, [join(ROOT, 'bin', 'peftmake.js'), 'validate', '-f', join(DIR, 'pipeline.json')], { encoding: 'utf8' });
  expect(out).toContain('valid, 10 stage(s)');
  expect(out).toMatch(/adapters\.support \(adapter\) <- adapters\.domain, datasets\.dialogues, models\.base/);
  expect(out).toMatch(/exports\.assistant-merged \(export\) <- compositions\.assistant/);
  const p = JSON.parse(readFileSync(join(DIR, 'pipeline.json'), 'utf8'));
  expect(p.models.base).toEqual({ hub: 'microsoft/DialoGPT-medium', revision: 'main' });
  expect(p.adapters.domain.lora.targets).toEqual(['c_attn', 'c_proj', 'c_fc']);
  expect(p.adapters.support.on).toEqual(['domain']);
  expect(p.datasets.dialogues.template.prompt).toBe('{prompt}<|endoftext|>');
  const lines = readFileSync(join(DIR, 'data', 'dialogues.jsonl'), 'utf8')
    .trim()
    .split('\n');
  expect(lines.length).toBe(16);
  for (const l of lines) expect(Object.keys(JSON.parse(l)).sort()).toEqual(['completion', 'prompt']);
});
