// Checks that a PEFT LoRA adapter fits a base model (every module exists in the base, lora_A [r, in] and
// lora_B [out, r] match the base weight [out, in] — GPT-2's Conv1D weights are [in, out], PEFT's fan_in_fan_out —,
// no fan_in_fan_out on Linear layers) and maps its modules to the base's weight names.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { readPeftAdapter, type LoraModule, type PeftAdapter } from './adapter-io.ts';

export interface FittedModule extends LoraModule {
  /** The base weight it changes, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  weight: string;
  /** The base weight is a Conv1D [in, out] (GPT-2): the merged weight is W + s·(B·A)ᵀ. */
  fanInFanOut?: boolean;
}

export interface FittedAdapter {
  adapter: PeftAdapter;
  modules: FittedModule[];
}

/** The base weight name a PEFT module key (`base_model.model.model.layers.0.self_attn.q_proj`) changes. */
export function baseWeightName(moduleKey: string): string {
  return `${moduleKey.replace(/^base_model\.model\./, '')}.weight`;
}

/** Whether the model directory holds a GPT-2 (Conv1D layers; config.json model_type gpt2). */
export function isConv1dModel(modelDir: string): boolean {
  try {
    return JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')).model_type === 'gpt2';
  } catch {
    return false;
  }
}

export function fitAdapter(dir: string, shapes: Map<string, number[]>, modelDir: string): FittedAdapter {
  const adapter = readPeftAdapter(dir);
  const cfgFile = join(dir, 'adapter_config.json');
  const wFile = join(dir, 'adapter_model.safetensors');
  // GPT-2: every targeted layer is a Conv1D, which PEFT always treats as fan_in_fan_out (it sets the flag itself).
  const conv1d = isConv1dModel(modelDir);
  if (adapter.config.fan_in_fan_out === true && !conv1d)
    throw new PeftError('E_ADAPTER', `${cfgFile}#/fan_in_fan_out: is true, but the base's projections are Linear layers stored [out, in]`, {
      file: cfgFile,
      pointer: '/fan_in_fan_out',
      hint: 'fan_in_fan_out is for GPT-2 Conv1D weights; re-save the adapter with fan_in_fan_out false',
    });
  const modules: FittedModule[] = [];
  for (const m of adapter.modules.values()) {
    const weight = baseWeightName(m.key);
    const shape = shapes.get(weight);
    if (!shape)
      throw new PeftError('E_ADAPTER', `${wFile}: module "${m.key}" targets ${weight}, which the base model in ${modelDir} does not have`, {
        file: wFile,
        hint: 'the adapter was trained for another architecture or another number of layers; use it with its own base model',
      });
    const [outDim, inDim] = conv1d ? [shape[1], shape[0]] : [shape[0], shape[1]];
    if (shape.length !== 2 || m.a.cols !== inDim || m.b.rows !== outDim)
      throw new PeftError(
        'E_ADAPTER',
        `${wFile}: module "${m.key}": lora_A is [${m.a.rows}, ${m.a.cols}] and lora_B [${m.b.rows}, ${m.b.cols}], but ${weight} in the base is [${shape.join(', ')}]${conv1d ? ' (Conv1D [in, out])' : ''} (needs lora_A [r, ${inDim}], lora_B [${outDim}, r])`,
        {
          file: wFile,
          hint: 'the adapter was trained for a base model of another size; use it with its own base model',
        },
      );
    modules.push({ ...m, weight, fanInFanOut: conv1d });
  }
  return { adapter, modules };
}
