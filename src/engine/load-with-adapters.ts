// Loads a model with a stack of adapters, each applied at its own weight (generate, score, serve).
import { loadModel, type AdapterUse, type ComputeMode, type EngineModel, type Quant } from './model.ts';

/** One adapter directory of a stack and the scale it is applied with. */
export interface AdapterSpec {
  dir: string;
  weight: number;
}

export async function loadWithAdapters(
  dir: string,
  quant: Quant,
  specs: readonly AdapterSpec[],
  compute?: ComputeMode,
): Promise<{ model: EngineModel; adapters: AdapterUse[] }> {
  const model = await loadModel({ dir, quant, compute });
  const adapters: AdapterUse[] = [];
  for (const { dir: adir, weight } of specs) {
    adapters.push({ adapter: await model.loadAdapter(adir), weight });
  }
  return { model, adapters };
}
