// Every export format and `import` for each non-Llama family (random-init GPT-2, Mixtral, T5; one short adapter each):
// what works is checked against the engine (merged scores as the stack; a PEFT export imported back scores as the
// trained adapter), what does not is refused with an error naming the family or model_type and what is supported; what
// `peftmake push` sends for each family's export and adapter (the upload itself is family-blind: push-import.test.ts).
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/index.ts';
import { loadT5Model } from '../../../src/engine/t5.ts';
import type { BuildReport } from '../../../src/exec/reporter.ts';
import { pushFiles } from '../../../src/cli/hub-push.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { requireManifest } from '../../../src/store/objects.ts';
import { FAMILIES, FAMILY_MODELS, type Family, familyTraining } from '../../helpers/family-models.ts';
import { TempProject, stage } from '../../helpers/project.ts';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

const FORMATS = ['peft', 'merged', 'gguf', 'onnx'] as const;
const train = familyTraining(0.05);

/** What each family's export does: null = built; else the error it must give. */
const EXPECTED: Record<Family, Record<(typeof FORMATS)[number], RegExp | null>> = {
  gpt2: { peft: null, merged: null, gguf: null, onnx: /model_type "gpt2" cannot be written as ONNX by peftmake \(ONNX: Llama-family decoders/ },
  moe: {
    peft: null,
    merged: null,
    gguf: /model_type "mixtral" cannot be written as GGUF by peftmake \(ONNX: Llama-family decoders .*; GGUF: those and GPT-2\)/,
    onnx: /model_type "mixtral" cannot be written as ONNX by peftmake \(ONNX: Llama-family decoders/,
  },
  t5: {
    peft: null,
    merged: null,
    gguf: /export format "gguf" is not supported for t5 \(encoder-decoder\) models yet \(t5 exports: peft, merged\)/,
    onnx: /export format "onnx" is not supported for t5 \(encoder-decoder\) models yet \(t5 exports: peft, merged\)/,
  },
};

const IDS = [5, 6, 7, 8, 9, 10, 11, 12];
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

describe.skipIf(skip !== '')(`exports and import per family${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let report: BuildReport;
  let second: BuildReport;
  const obj = (r: BuildReport, name: string) => p.path(join('artifacts', 'objects', stage(r, name).key));

  beforeAll(async () => {
    p = new TempProject('peftmake-family-exports-');
    const qa = syntheticQa(12, 3).map((q) => JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer] } }));
    p.write('data/qa.jsonl', `${qa.join('\n')}\n`);
    const datasets: Record<string, unknown> = {};
    const adapters: Record<string, unknown> = {};
    const exports: Record<string, unknown> = {};
    for (const f of FAMILIES) {
      datasets[`${f}-qa`] = { model: f, source: { files: ['data/qa.jsonl'] }, format: 'qa', split: { valid: 0.25, seed: 1 } };
      adapters[`${f}-task`] = { base: f, data: `${f}-qa`, ...train };
      for (const format of FORMATS)
        exports[`${f}-${format}`] = { adapter: `${f}-task`, path: `dist/${f}-${format}`, format, ...(format === 'merged' ? { dtype: 'fp32' } : {}) };
    }
    const pipeline = { models: FAMILY_MODELS, datasets, adapters, exports };
    p.pipeline(pipeline);
    report = await p.build({ keepGoing: true });
    // then each family's PEFT export imported back as an adapter of its base
    const imports = Object.fromEntries(FAMILIES.map((f) => [`${f}-imported`, { base: f, import: { path: `dist/${f}-peft` } }]));
    p.pipeline({ ...pipeline, adapters: { ...adapters, ...imports } });
    second = await p.build({ keepGoing: true });
  }, 240_000);
  afterAll(() => p?.cleanup());

  for (const f of FAMILIES)
    it(`${f}: ${FORMATS.map((x) => `${x} ${EXPECTED[f][x] ? 'refused' : 'built'}`).join(', ')}`, () => {
      for (const format of FORMATS) {
        const s = stage(report, `exports.${f}-${format}`);
        const want = EXPECTED[f][format];
        if (want === null) expect(s.error, `${f} ${format}`).toBeUndefined();
        else {
          expect(s.action, `${f} ${format}`).toBe('failed');
          expect(s.error).toMatch(want);
          expect(p.exists(`dist/${f}-${format}`)).toBe(false); // nothing half-written
        }
      }
    });

  it('merged exports score as the base with the adapter; the imported PEFT exports as the trained adapters', async () => {
    for (const f of FAMILIES) {
      expect(stage(second, `adapters.${f}-imported`).error, f).toBeUndefined();
      const baseDir = join(obj(report, `models.${f}`), 'model');
      if (f === 't5') {
        const m = await loadT5Model({ dir: baseDir });
        const a = await m.loadAdapter(obj(report, 'adapters.t5-task'));
        const b = await m.loadAdapter(obj(second, 'adapters.t5-imported'));
        const dec = [0, ...IDS.slice(0, 4)];
        const stack = (await m.score(IDS, dec, [{ adapter: a }])).logprobs;
        expect((await m.score(IDS, dec, [{ adapter: b }])).logprobs).toEqual(stack);
        expect(stack).not.toEqual((await m.score(IDS, dec)).logprobs);
        const merged = await loadT5Model({ dir: p.path('dist/t5-merged') });
        expect(maxDiff((await merged.score(IDS, dec)).logprobs, stack)).toBeLessThan(1e-4);
        continue;
      }
      const m = await loadModel({ dir: baseDir });
      const a = await m.loadAdapter(obj(report, `adapters.${f}-task`));
      const b = await m.loadAdapter(obj(second, `adapters.${f}-imported`));
      const stack = (await m.score(IDS, [{ adapter: a }])).logprobs;
      expect((await m.score(IDS, [{ adapter: b }])).logprobs).toEqual(stack);
      expect(stack).not.toEqual((await m.score(IDS)).logprobs);
      const merged = await loadModel({ dir: p.path(`dist/${f}-merged`) });
      expect(maxDiff((await merged.score(IDS)).logprobs, stack)).toBeLessThan(1e-4);
    }
  });

  it('push sends each family PEFT export (adapter, tokenizer, a card loading the right transformers class) and its adapter', () => {
    const layout = new StoreLayout(p.dir);
    for (const f of FAMILIES) {
      const exp = stage(report, `exports.${f}-peft`);
      const files = pushFiles(layout, requireManifest(layout, exp.key, exp.name), 1);
      expect([...files.keys()], f).toEqual(expect.arrayContaining(['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']));
      expect(files.get('README.md')!.toString()).toContain(f === 't5' ? 'AutoModelForSeq2SeqLM' : 'AutoModelForCausalLM');
      const cfg = JSON.parse(files.get('adapter_config.json')!.toString());
      expect(cfg.task_type, f).toBe(f === 't5' ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM');
      if (f === 'gpt2') expect(cfg.fan_in_fan_out).toBe(true);
      const ad = stage(report, `adapters.${f}-task`);
      expect([...pushFiles(layout, requireManifest(layout, ad.key, ad.name), 1).keys()].sort()).toEqual([
        'README.md',
        'adapter_config.json',
        'adapter_model.safetensors',
      ]);
    }
  });
});
