// The committed schema/pipeline.schema.json is exactly what `npm run schema` generates, and documents every field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SCHEMA_PATH, VALIDATOR_PATH, generatedSchemaText, generatedValidatorText } from '../../../scripts/gen-schema.ts';
import { compileValidator, validatorForSchema } from '../../../src/config/validator.ts';

type Node = Record<string, unknown>;

/** Every property schema in the tree, with its path. */
function properties(node: unknown, path = '#', out: [string, Node, boolean][] = []): [string, Node, boolean][] {
  if (!node || typeof node !== 'object') return out;
  const n = node as Node;
  const required = new Set((n.required as string[]) ?? []);
  for (const [k, v] of Object.entries((n.properties as Record<string, Node>) ?? {})) {
    out.push([`${path}/${k}`, v, required.has(k)]);
    properties(v, `${path}/${k}`, out);
  }
  for (const key of ['$defs', 'items', 'additionalProperties', 'anyOf', 'oneOf']) {
    const v = n[key];
    if (key === '$defs' && v) for (const [k, d] of Object.entries(v as Record<string, Node>)) properties(d, `${path}/$defs/${k}`, out);
    else if (Array.isArray(v)) v.forEach((x, i) => properties(x, `${path}/${key}/${i}`, out));
    else if (v && typeof v === 'object') properties(v, `${path}/${key}`, out);
  }
  return out;
}

describe('schema/pipeline.schema.json', () => {
  const committed = readFileSync(SCHEMA_PATH, 'utf8');
  const schema = JSON.parse(committed) as Node;

  it('equals the schema generated from the stage kinds (run `npm run schema` after changing a kind)', () => {
    expect(committed).toBe(generatedSchemaText());
  });

  it('is a valid JSON Schema 2020-12 document with every section', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    new Ajv2020({ strict: false }).compile(schema);
    expect(Object.keys(schema.properties as Node)).toEqual([
      '$schema',
      'description',
      'executor',
      'models',
      'datasets',
      'adapters',
      'compositions',
      'evals',
      'exports',
      'stages',
    ]);
  });

  it('gives every field a description, and every optional core-owned field a default', () => {
    const all = properties(schema);
    expect(all.length).toBeGreaterThan(60);
    const undocumented = all.filter(([, s]) => typeof s.description !== 'string' || !(s.description as string).length).map(([p]) => p);
    expect(undocumented).toEqual([]);
    // The choice fields of models (path | hub | init), adapters (data | import, path | hub) and exports (adapter |
    // composition) have no default by nature; an export's dtype defaults by format (merged bf16, onnx fp32); nor has
    // a stage's `executor` (absent: the top-level executor applies).
    const choice =
      /\/\$defs\/(model\/(path|hub|init)|adapter\/(data|import|import\/path|import\/hub)|export\/(adapter|composition|dtype))$|\/\$defs\/(adapter|command)\/executor$/;
    const coreKinds = /\/\$defs\/(model|adapter|composition|eval|export|command)\//;
    const noDefault = all.filter(([p, s, req]) => coreKinds.test(p) && !req && !('default' in s) && !choice.test(p) && !/\/items\//.test(p)).map(([p]) => p);
    expect(noDefault).toEqual([]);
  });
});

describe('schema/pipeline.validate.cjs (the precompiled validator)', () => {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Node;

  it('equals the standalone code generated from the schema (run `npm run schema` after changing a kind)', () => {
    expect(readFileSync(VALIDATOR_PATH, 'utf8')).toBe(generatedValidatorText());
  });

  it('is the one used for the schema, and reports exactly what the ajv-compiled validator reports', () => {
    const pre = validatorForSchema(schema);
    const compiled = compileValidator(schema);
    expect(pre).not.toBe(compiled);
    expect((pre as unknown as { schemaDigest?: string }).schemaDigest).toMatch(/^[0-9a-f]{64}$/);
    const inputs: unknown[] = [
      { stages: { s: { cmd: 'true', deps: ['a.txt'] } } },
      { models: { base: { init: { preset: 'tiny' } } }, stages: { s: { cmd: 'true' } } },
      { adapters: { qa: { base: 'base', data: 'qa', lora: { r: '16' } } }, bogus: 1 },
      { stages: { 'bad name': { cmd: 3 } }, models: { m: {} } },
      [],
    ];
    const results = inputs.map((input) => {
      const a = structuredClone(input);
      const b = structuredClone(input);
      const ok = pre(a);
      expect(ok).toBe(compiled(b));
      expect(a).toEqual(b); // the same defaults filled in
      expect(JSON.stringify(pre.errors ?? null)).toBe(JSON.stringify(compiled.errors ?? null));
      return [ok, pre.errors?.length ?? 0];
    });
    expect(results).toEqual([
      [true, 0],
      [false, 5],
      [false, 2],
      [false, 9],
      [false, 1],
    ]);
  });

  it('is not used for a schema it was not generated from (a kind changed without `npm run schema`)', () => {
    const changed = { ...schema, description: 'changed' };
    expect((validatorForSchema(changed) as unknown as { schemaDigest?: string }).schemaDigest).toBeUndefined();
  });
});

describe('the root pipeline.json', () => {
  it('validates against the schema and the semantic rules', async () => {
    const { loadPipeline } = await import('../../../src/config/load.ts');
    const { TOOLCHAIN } = await import('../../helpers/toolchain.ts');
    const p = loadPipeline(SCHEMA_PATH.replace(/schema\/pipeline\.schema\.json$/, 'pipeline.json'), { kinds: TOOLCHAIN.kinds });
    expect(p.order.length).toBeGreaterThan(0);
    expect(p.config.$schema).toBe('./schema/pipeline.schema.json');
  });
});
