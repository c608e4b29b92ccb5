// Schema properties that several stage kinds declare word for word: the cosmetic `description` and the `base` model name.
import type { JsonSchema } from '../../src/stage.ts';

/** Free text on a stage entry; the planner leaves it out of the stage key (src/plan/plan.ts COSMETIC). */
export const descriptionProperty: JsonSchema = { type: 'string', default: '', description: 'Free text for humans; cosmetic, not part of the stage key.' };

/** The `base` of an adapter or a composition: a stage name in `models`. */
export const baseModelProperty: JsonSchema = { type: 'string', minLength: 1, description: 'Name of the base model in `models`.' };
