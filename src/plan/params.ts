// Reads the values of keys named in params files (JSON, dotted paths); they join the stage key as `file:key`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PeftError } from '../errors.ts';

export function readParams(stage: string, projectDir: string, files: readonly { file: string; keys: string[] }[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { file, keys } of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(resolve(projectDir, file), 'utf8'));
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      throw new PeftError('E_INPUT_MISSING', `${stage}: params file "${file}" ${missing ? 'does not exist' : `is not valid JSON (${(e as Error).message})`}`, {
        file,
        hint: missing ? `create ${file} with the keys ${keys.join(', ')}` : 'fix the JSON',
      });
    }
    for (const key of keys) {
      let v: unknown = doc;
      for (const part of key.split('.')) {
        if (v && typeof v === 'object' && Object.hasOwn(v, part)) v = (v as Record<string, unknown>)[part];
        else
          throw new PeftError('E_INPUT_MISSING', `${stage}: params file "${file}" has no key "${key}"`, {
            file,
            hint: `add "${key}" to ${file} or remove it from the stage's params`,
          });
      }
      out[`${file}:${key}`] = v;
    }
  }
  return out;
}
