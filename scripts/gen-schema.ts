// Writes schema/pipeline.schema.json from the stage kinds' schema fragments and, beside it, the validator precompiled
// from it (schema/pipeline.validate.cjs, ajv standalone code: the CLI starts without compiling the schema) (`npm run schema`).
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAGE_KINDS } from '../stages/index.ts';
import { buildPipelineSchema } from '../src/config/pipeline-schema.ts';
import { VALIDATOR_PATH, standaloneValidatorCode } from '../src/config/validator.ts';

export { VALIDATOR_PATH };

export const SCHEMA_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'pipeline.schema.json');

export function generatedSchemaText(): string {
  return `${JSON.stringify(buildPipelineSchema(STAGE_KINDS), null, 2)}\n`;
}

export function generatedValidatorText(): string {
  return standaloneValidatorCode(buildPipelineSchema(STAGE_KINDS));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  mkdirSync(dirname(SCHEMA_PATH), { recursive: true });
  writeFileSync(SCHEMA_PATH, generatedSchemaText());
  writeFileSync(VALIDATOR_PATH, generatedValidatorText());
  console.log(`wrote ${SCHEMA_PATH}`);
  console.log(`wrote ${VALIDATOR_PATH}`);
}
