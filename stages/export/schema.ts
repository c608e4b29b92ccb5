// JSON Schema fragment for one entry of `exports`: copies a built adapter or composition to a project path, in PEFT layout.
import type { JsonSchema } from '../../src/stage.ts';
import { descriptionProperty } from '../shared/schema-fields.ts';

export const exportSchema: JsonSchema = {
  type: 'object',
  description: 'Writes an adapter (or a merged composition) as a PEFT directory at `path`, for use outside peftmake.',
  additionalProperties: false,
  required: ['path'],
  properties: {
    description: descriptionProperty,
    adapter: { type: 'string', minLength: 1, description: 'Adapter name in `adapters` to export.' },
    composition: { type: 'string', minLength: 1, description: 'Composition name in `compositions` to export (merged methods only).' },
    path: { type: 'string', minLength: 1, description: 'Project-relative directory the export is materialised at.' },
    format: { enum: ['peft'], default: 'peft', description: 'Output layout: adapter_config.json + adapter_model.safetensors.' },
  },
  oneOf: [{ required: ['adapter'] }, { required: ['composition'] }],
};
