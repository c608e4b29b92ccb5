// Loads a model with a stack of adapters, each applied at its own weight (generate, score, serve).
import { loadModel, type AdapterUse, type EngineModel, type Quant } from './model.ts';

/** One adapter directory of a stack and the scale it is applied with. */
export interface AdapterSpec {
  dir: string;
  weight: number;
}

export async function loadWithAdapters(dir: string, quant: Quant, specs: readonly AdapterSpec[]): Promise<{ model: EngineModel; adapters: AdapterUse[] }> {
  const model = await loadModel({ dir, quant });
  const adapters: AdapterUse[] = [];
  for (const { dir: adir, weight } of specs) {
    adapters.push({ adapter: await model.loadAdapter(adir), weight });
  }
  return { model, adapters };
}
