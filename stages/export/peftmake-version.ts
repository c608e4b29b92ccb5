// peftmake's own version (package.json), for model cards and GGUF / ONNX metadata.
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function peftmakeVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
