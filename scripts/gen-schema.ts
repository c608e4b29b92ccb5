// Writes schema/pipeline.schema.json from the stage kinds' schema fragments (`npm run schema`).
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAGE_KINDS } from '../stages/index.ts';
import { buildPipelineSchema } from '../src/config/pipeline-schema.ts';

export const SCHEMA_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'pipeline.schema.json');

export function generatedSchemaText(): string {
  return `${JSON.stringify(buildPipelineSchema(STAGE_KINDS), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  mkdirSync(dirname(SCHEMA_PATH), { recursive: true });
  writeFileSync(SCHEMA_PATH, generatedSchemaText());
  console.log(`wrote ${SCHEMA_PATH}`);
}
