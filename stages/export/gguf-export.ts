// `format: "gguf"`: llama.cpp files — base.gguf (the base in `type`, with tokenizer metadata), one LoRA GGUF per
// adapter (`<name>.lora.gguf`, F16, its weight and scaling in adapter.lora.alpha), and merged.gguf (everything
// folded in), plus a model card with the llama.cpp / Ollama commands.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext } from '../../src/stage.ts';
import type { Tensor } from '../../src/hf/safetensors.ts';
import { fitAdapter, type FittedAdapter } from '../shared/adapter-fit.ts';
import { baseShapes, readBaseWeights } from '../shared/base-weights.ts';
import { cardBase } from './card-context.ts';
import type { ExportStageConfig, FormatResult } from './export-stage.ts';
import type { ExportSource } from './export-source.ts';
import { readJsonFile } from './hf-files.ts';
import { mergeIntoBase } from './merge-into-base.ts';
import { modelCard } from './model-card.ts';
import { GgmlType, kv, writeGguf, type GgufTensorSpec } from './gguf/gguf-file.ts';
import { FILE_TYPE, ggufName, llamaHparams, llamaMetadata, permuteHeads, permuteRows, tensorType, type LlamaHparams } from './gguf/gguf-llama.ts';
import { gpt2GgufName, gpt2Hparams, gpt2Metadata, transpose, type Gpt2Hparams } from './gguf/gguf-gpt2.ts';
import { encodeGgml } from './gguf/gguf-quant.ts';
import { ggufVocab } from './gguf/gguf-vocab.ts';

export function writeModelGguf(
  path: string,
  name: string,
  h: LlamaHparams,
  vocab: ReturnType<typeof ggufVocab>,
  tensors: Map<string, Tensor>,
  type: string,
): void {
  const ft = FILE_TYPE[type];
  const specs: (GgufTensorSpec & { hf: string })[] = [];
  for (const hf of [...tensors.keys()].sort()) {
    const gg = ggufName(hf);
    if (!gg) continue;
    if (gg === 'output.weight' && h.tied) continue;
    const ne = [...tensors.get(hf)!.shape].reverse();
    specs.push({ name: gg, ne, type: tensorType(gg, ne, ft.ggml), hf });
  }
  writeGguf(path, [...llamaMetadata(h, name, ft.fileType), ...vocab], specs, (s) => {
    const t = tensors.get((s as (typeof specs)[number]).hf)!;
    const heads = permuteHeads(s.name, h);
    const data = heads ? permuteRows(t.data, t.shape[0], t.shape[1], heads) : t.data;
    return encodeGgml(data, s.type);
  });
}

/** GPT-2 as llama.cpp's gpt2: Conv1D weights transposed to [out, in]; the tied head written as output.weight. */
export function writeGpt2Gguf(
  path: string,
  name: string,
  h: Gpt2Hparams,
  vocab: ReturnType<typeof ggufVocab>,
  tensors: Map<string, Tensor>,
  type: string,
): void {
  const ft = FILE_TYPE[type];
  const specs: (GgufTensorSpec & { hf: string; conv1d: boolean })[] = [];
  for (const hf of [...tensors.keys()].sort()) {
    const gg = gpt2GgufName(hf);
    if (!gg) continue;
    const shape = tensors.get(hf)!.shape;
    const ne = gg.conv1d ? [...shape] : [...shape].reverse();
    specs.push({ name: gg.name, ne, type: tensorType(gg.name, ne, ft.ggml), hf, conv1d: gg.conv1d });
  }
  const embd = specs.find((s) => s.name === 'token_embd.weight');
  if (embd && !specs.some((s) => s.name === 'output.weight'))
    specs.push({ ...embd, name: 'output.weight', type: tensorType('output.weight', embd.ne, ft.ggml) });
  writeGguf(path, [...gpt2Metadata(h, name, ft.fileType), ...vocab], specs, (s) => {
    const spec = s as (typeof specs)[number];
    const t = tensors.get(spec.hf)!;
    return encodeGgml(spec.conv1d ? transpose(t.data, t.shape[0], t.shape[1]) : t.data, s.type);
  });
}

export function writeLoraGguf(
  path: string,
  name: string,
  h: LlamaHparams | undefined,
  fitted: FittedAdapter,
  weight: number,
  type: GgmlType,
): { alpha: number } {
  const r = fitted.adapter.r;
  const scalings = new Set(fitted.modules.map((m) => m.scaling));
  // One alpha for the file when every module has the same scaling (weight folded in); else each B carries its own.
  const uniform = scalings.size === 1;
  const alpha = uniform ? weight * [...scalings][0] * r : r;
  const specs: GgufTensorSpec[] = [];
  const data = new Map<string, Float32Array>();
  for (const m of [...fitted.modules].sort((a, b) => (a.weight < b.weight ? -1 : 1))) {
    // PEFT keeps lora_A [r, in] and lora_B [out, r] for GPT-2's Conv1D layers too: they are already ggml's layout.
    const gg = h ? ggufName(m.weight)! : gpt2GgufName(m.weight)!.name;
    const a = Float32Array.from(m.a.data);
    let b: Float32Array = Float32Array.from(m.b.data);
    if (!uniform) for (let i = 0; i < b.length; i++) b[i] *= weight * m.scaling;
    const heads = h && permuteHeads(gg, h);
    if (heads) b = permuteRows(b, m.b.rows, m.b.cols, heads);
    specs.push({ name: `${gg}.lora_a`, ne: [m.a.cols, m.a.rows], type }, { name: `${gg}.lora_b`, ne: [m.b.cols, m.b.rows], type });
    data.set(`${gg}.lora_a`, a).set(`${gg}.lora_b`, b);
  }
  const meta = [
    ['general.architecture', kv.str(h ? 'llama' : 'gpt2')],
    ['general.type', kv.str('adapter')],
    ['general.name', kv.str(name)],
    ['general.alignment', kv.u32(32)],
    ['adapter.type', kv.str('lora')],
    ['adapter.lora.alpha', kv.f32(alpha)],
  ] as [string, ReturnType<typeof kv.str>][];
  writeGguf(path, meta, specs, (s) => encodeGgml(data.get(s.name)!, s.type));
  return { alpha };
}

export function loraFileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.lora.gguf`;
}

export async function writeGgufExport(ctx: RunContext<ExportStageConfig>, src: ExportSource, dst: string): Promise<FormatResult> {
  const type = ctx.config.type ?? 'F16';
  const ft = FILE_TYPE[type];
  if (!ft)
    throw new PeftError('E_CONFIG_SCHEMA', `${ctx.name}: GGUF type "${type}" is not one of ${Object.keys(FILE_TYPE).join(', ')}`, {
      pointer: `/exports/${ctx.name.split('.')[1]}/type`,
    });
  const cfgFile = join(src.modelDir, 'config.json');
  const config = readJsonFile(cfgFile);
  const gpt2 = config.model_type === 'gpt2' ? gpt2Hparams(config, cfgFile) : undefined;
  const h = gpt2 ? undefined : llamaHparams(config, cfgFile, 'GGUF');
  const hidden = gpt2 ? gpt2.hidden : h!.hidden;
  if (ft.ggml === GgmlType.Q4_0 || ft.ggml === GgmlType.Q8_0) {
    if (hidden % 32 !== 0)
      throw new PeftError(
        'E_MODEL',
        `${ctx.name}: GGUF type ${type} quantizes rows in blocks of 32 values, but this model's hidden_size is ${hidden} (not a multiple of 32)`,
        {
          file: cfgFile,
          pointer: `/exports/${ctx.name.split('.')[1]}/type`,
          hint: 'use "type": "F16" (or F32) for this model',
        },
      );
  }
  const vocab = ggufVocab(src.modelDir, config, gpt2 ? gpt2.vocab : h!.vocab);
  const writeModel = (path: string, name: string, tensors: Map<string, Tensor>) =>
    gpt2 ? writeGpt2Gguf(path, name, gpt2, vocab, tensors, type) : writeModelGguf(path, name, h!, vocab, tensors, type);
  const shapes = baseShapes(src.modelDir);
  const fitted = src.adapters.map((a) => ({ name: a.name, fitted: fitAdapter(a.dir, shapes, src.modelDir), weight: a.weight }));
  const base = readBaseWeights(src.modelDir).tensors;
  const files = ['base.gguf'];
  writeModel(join(dst, 'base.gguf'), src.baseName, base);
  const loraType = ft.ggml === GgmlType.F32 ? GgmlType.F32 : GgmlType.F16;
  const loras: { name: string; file: string; alpha: number }[] = [];
  for (const f of fitted) {
    const file = loraFileName(f.name);
    if (files.includes(file)) throw new PeftError('E_CONFIG_SEMANTIC', `${ctx.name}: two adapters would both be written as ${file}`);
    const { alpha } = writeLoraGguf(join(dst, file), f.name, h, f.fitted, f.weight, loraType);
    files.push(file);
    loras.push({ name: f.name, file, alpha });
  }
  writeModel(join(dst, 'merged.gguf'), `${src.baseName}+${fitted.map((f) => f.name).join('+')}`, mergeIntoBase(base, fitted));
  files.push('merged.gguf');
  const p = ctx.config.path;
  const loraFlags = loras.map((l) => `--lora ${p}/${l.file}`).join(' ');
  writeFileSync(
    join(dst, 'README.md'),
    modelCard({
      source: src,
      format: 'gguf',
      ...cardBase(ctx.pipeline, src.baseName),
      details: [
        `base.gguf and merged.gguf: ${type} (norms F32${type.startsWith('Q') ? '; rows that are not whole 32-value blocks F16' : ''}${type === 'Q4_0' ? '; token embedding Q8_0' : ''})`,
        ...loras.map(
          (l) =>
            `${l.file}: LoRA ${loraType === GgmlType.F32 ? 'F32' : 'F16'}, adapter.lora.alpha ${l.alpha} (the composition weight folded in: apply at scale 1)`,
        ),
      ],
      usage: [
        { lang: 'sh', code: `llama-cli -m ${p}/base.gguf ${loraFlags} -p "Once upon a time"\nllama-cli -m ${p}/merged.gguf -p "Once upon a time"` },
        {
          lang: 'sh',
          code: `printf 'FROM ./base.gguf\\n${loras.map((l) => `ADAPTER ./${l.file}`).join('\\n')}\\n' > ${p}/Modelfile && ollama create my-model -f ${p}/Modelfile`,
        },
      ],
    }),
  );
  files.push('README.md');
  return { summary: `GGUF ${type}: base + ${loras.length} LoRA + merged`, files, metrics: { type, loras: loras.length } };
}
