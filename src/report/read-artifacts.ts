// Reads the files stage artifacts leave in the store (train_log.jsonl, valid_log.json, metrics.json, stats.json,
// samples.txt) into plain values; a malformed file is an E_STORE error naming the file (and line) and the fix.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import type { DatasetSample, TrainPoint, ValidPoint } from './model.ts';

const rebuildHint = (dir: string) => `the artifact at ${dir} is damaged: delete that directory and run \`peftmake build\` to rebuild it`;

/** Parses a JSON file of an artifact; undefined when the file is absent. */
export function readArtifactJson<T>(dir: string, file: string): T | undefined {
  const path = join(dir, file);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new PeftError('E_STORE', `${path}: not valid JSON (${(e as Error).message})`, { file: path, hint: rebuildHint(dir) });
  }
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : Number.NaN);

/** train_log.jsonl: one JSON object per step; tokens are accumulated so curves can be drawn against tokens seen. */
export function readTrainLog(dir: string): TrainPoint[] {
  const path = join(dir, 'train_log.jsonl');
  if (!existsSync(path)) return [];
  const out: TrainPoint[] = [];
  let seen = 0;
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch (e) {
        throw new PeftError('E_STORE', `${path}:${i + 1}: not a JSON object (${(e as Error).message})`, { file: path, line: i + 1, hint: rebuildHint(dir) });
      }
      const step = num(r.step);
      const loss = num(r.loss);
      if (Number.isNaN(step) || Number.isNaN(loss))
        throw new PeftError('E_STORE', `${path}:${i + 1}: a step record needs numeric "step" and "loss"`, { file: path, line: i + 1, hint: rebuildHint(dir) });
      const tokens = num(r.tokens);
      const seconds = num(r.seconds);
      seen += Number.isNaN(tokens) ? 0 : tokens;
      out.push({ step, loss, lr: num(r.lr), tokens: seen, tokensPerS: tokens > 0 && seconds > 0 ? tokens / seconds : Number.NaN });
    });
  return out;
}

/** valid_log.json: [{step, loss}], with the cumulative tokens of that step from the train log. */
export function readValidLog(dir: string, train: TrainPoint[]): ValidPoint[] {
  const raw = readArtifactJson<{ step: number; loss: number }[]>(dir, 'valid_log.json');
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new PeftError('E_STORE', `${join(dir, 'valid_log.json')}: expected a list of {step, loss}`, { hint: rebuildHint(dir) });
  const byStep = new Map(train.map((t) => [t.step, t.tokens]));
  return raw.map((r) => ({ step: num(r.step), loss: num(r.loss), tokens: byStep.get(num(r.step)) ?? null }));
}

/** Splits a sample's text at the ⟦ ⟧ marks samples.txt puts around the loss-carrying tokens. */
export function lossParts(text: string): { text: string; loss: boolean }[] {
  const parts: { text: string; loss: boolean }[] = [];
  const re = /⟦([\s\S]*?)(?:⟧|$)/g;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index === re.lastIndex) re.lastIndex++; // an empty match at the end
    if (m.index > at) parts.push({ text: text.slice(at, m.index), loss: false });
    if (m[1]) parts.push({ text: m[1], loss: true });
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push({ text: text.slice(at), loss: false });
  return parts;
}

/** samples.txt: a header line, then blocks `--- train[0]: N tokens, M with loss ---` followed by the marked text. */
export function readSamples(dir: string, perSplit = 2): DatasetSample[] {
  const path = join(dir, 'samples.txt');
  if (!existsSync(path)) return [];
  const blocks = readFileSync(path, 'utf8')
    .split(/\n\n(?=--- )/)
    .slice(1);
  const out: DatasetSample[] = [];
  for (const b of blocks) {
    const m = /^--- ((\w+)\[(\d+)\][^\n]*?) ---\n?([\s\S]*)$/.exec(b.trimEnd());
    if (!m || Number(m[3]) >= perSplit) continue;
    out.push({ label: m[1], parts: lossParts(m[4]) });
  }
  return out;
}
