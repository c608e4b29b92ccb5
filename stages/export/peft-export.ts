// `format: "peft"`: the adapter as PEFT saves it (adapter_config.json + adapter_model.safetensors), the base's
// tokenizer files and a model card; a stack composition puts each adapter in a sub-directory named after it.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext } from '../../src/stage.ts';
import { cardBase } from './card-context.ts';
import type { ExportStageConfig, FormatResult } from './export-stage.ts';
import type { ExportAdapter, ExportSource } from './export-source.ts';
import { copyTokenizerFiles } from './hf-files.ts';
import { autoModelClass, modelCard } from './model-card.ts';

export const PEFT_FILES = ['adapter_config.json', 'adapter_model.safetensors'];

function copyPeft(a: ExportAdapter, dst: string, what: string): string[] {
  mkdirSync(dst, { recursive: true });
  for (const f of PEFT_FILES) {
    if (!existsSync(join(a.dir, f))) throw new PeftError('E_STORE', `${join(a.dir, f)} is missing from the store`, { hint: `rebuild ${what}` });
    copyFileSync(join(a.dir, f), join(dst, f));
  }
  return PEFT_FILES;
}

export async function writePeftExport(ctx: RunContext<ExportStageConfig>, src: ExportSource, dst: string): Promise<FormatResult> {
  const files: string[] = [];
  const base = cardBase(ctx.pipeline, src.baseName);
  const baseId = base.baseModel.hub ?? base.baseModel.path ?? src.baseName;
  const usage: { lang: string; code: string }[] = [];
  const auto = autoModelClass(src.modelDir);
  if (src.primary) {
    files.push(...copyPeft(src.primary, dst, src.what));
    usage.push({
      lang: 'python',
      code: `from transformers import ${auto}, AutoTokenizer\nfrom peft import PeftModel\nbase = ${auto}.from_pretrained(${JSON.stringify(baseId)})\nmodel = PeftModel.from_pretrained(base, "${ctx.config.path}")\ntok = AutoTokenizer.from_pretrained("${ctx.config.path}")`,
    });
  } else {
    for (const a of src.adapters) files.push(...copyPeft(a, join(dst, a.name), src.what).map((f) => `${a.name}/${f}`));
    const [first, ...rest] = src.adapters;
    usage.push({
      lang: 'python',
      code: [
        `from transformers import ${auto}`,
        'from peft import PeftModel',
        `base = ${auto}.from_pretrained(${JSON.stringify(baseId)})`,
        `model = PeftModel.from_pretrained(base, "${ctx.config.path}/${first.name}", adapter_name="${first.name}")`,
        ...rest.map((a) => `model.load_adapter("${ctx.config.path}/${a.name}", adapter_name="${a.name}")`),
        `model.add_weighted_adapter(${JSON.stringify(src.adapters.map((a) => a.name))}, ${JSON.stringify(src.adapters.map((a) => a.weight))}, "composed", combination_type="cat")`,
        'model.set_adapter("composed")',
      ].join('\n'),
    });
  }
  usage.push({ lang: 'sh', code: `peftmake push exports.${ctx.name.split('.')[1]} --repo <owner>/<name>` });
  files.push(...copyTokenizerFiles(src.modelDir, dst));
  writeFileSync(
    join(dst, 'README.md'),
    modelCard({
      source: src,
      format: 'peft',
      ...base,
      details: [
        src.primary
          ? 'files: PEFT LoRA adapter (fp32) and the base tokenizer'
          : `one PEFT adapter per sub-directory: ${src.adapters.map((a) => `\`${a.name}/\``).join(', ')}`,
      ],
      usage,
    }),
  );
  files.push('README.md');
  return { summary: `PEFT${src.primary ? '' : `, ${src.adapters.length} adapters`}, tokenizer, model card`, files };
}
