// JSON Schema fragment for one entry of `stages`: a make/DVC-like shell command with declared deps, outs and params.
import type { JsonSchema } from '../../src/stage.ts';
import { descriptionProperty } from '../shared/schema-fields.ts';

export const commandSchema: JsonSchema = {
  type: 'object',
  description: 'A shell command run in the project directory; reruns when its deps, params, env or command change.',
  additionalProperties: false,
  required: ['cmd'],
  properties: {
    description: descriptionProperty,
    cmd: {
      description: 'Shell command (string), or several run in order (array).',
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
      ],
    },
    deps: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Project-relative files, directories or globs it reads; an out of another stage makes that stage upstream.',
    },
    outs: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Project-relative files or directories it writes; captured into the store and restored from it.',
    },
    params: {
      type: 'array',
      default: [],
      description: 'Keys (dotted paths) of params.json, or {"file.json": ["key", ...]}, whose values join the stage key.',
      items: {
        anyOf: [
          { type: 'string', minLength: 1 },
          { type: 'object', minProperties: 1, additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 } } },
        ],
      },
    },
    env: {
      type: 'object',
      additionalProperties: { type: 'string' },
      default: {},
      description: 'Environment variables set for the command; they join the stage key.',
    },
    heavy: { type: 'boolean', default: false, description: 'Holds the exclusive compute slot (no other heavy stage runs beside it).' },
  },
};
