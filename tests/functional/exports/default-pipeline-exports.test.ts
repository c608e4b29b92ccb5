// The root pipeline.json (reduced steps) with exports added, built by the real CLI: the composition `assistant`
// (domain + task stacked) as GGUF runs in llama.cpp with the engine's greedy ids (`peftmake generate`), the adapters
// off give the base's ids; exports are stages — a rebuild is a no-op, changing one export's type rebuilds it alone.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { llamaCppGreedy, llamaCppSkip } from '../../helpers/llama-cpp.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const skip = !existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? 'native addon not built (npm run build:native)' : llamaCppSkip();

describe.skipIf(skip !== '')(`default pipeline exports${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-exports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const build = () => JSON.parse(cli('build', '--json')) as { ok: boolean; stages: { name: string; action: string }[] };
  const actions = (r: ReturnType<typeof build>) => Object.fromEntries(r.stages.map((s) => [s.name, s.action]));

  it("the assistant composition in llama.cpp gives the engine's greedy ids; exports rebuild only when they change", async () => {
    for (const p of ['README.md', 'docs', 'data', 'models', 'schema']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
    const p = JSON.parse(readFileSync(join(ROOT, 'pipeline.json'), 'utf8'));
    for (const a of Object.values(p.adapters) as Record<string, unknown>[]) Object.assign(a, { maxSteps: 6, evalEvery: 0, checkpointEvery: 0, lr: 0.02 });
    p.evals = {};
    p.exports = {
      'assistant-gguf': { composition: 'assistant', path: 'exports/assistant-gguf', format: 'gguf', type: 'F16' },
      'task-peft': { adapter: 'task', path: 'exports/task-peft' },
    };
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(p, null, 2));
    const first = build();
    expect(first.ok).toBe(true);
    expect(actions(first)).toMatchObject({ 'exports.assistant-gguf': 'built', 'exports.task-peft': 'built' });
    expect(readdirSync(join(dir, 'exports', 'assistant-gguf')).sort()).toEqual(['README.md', 'base.gguf', 'domain.lora.gguf', 'merged.gguf', 'task.lora.gguf']);
    expect(readdirSync(join(dir, 'exports', 'task-peft'))).toContain('tokenizer.json');

    const prompt = [1, 403, 407, 261, 378];
    const gen = (...extra: string[]) =>
      (JSON.parse(cli('generate', ...extra, '--prompt-ids', prompt.join(','), '--max-tokens', '24', '--json')) as { tokens: number[] }).tokens;
    const engineAssistant = gen('--composition', 'assistant');
    const engineBase = gen('--model', 'models/stories260K');
    expect(engineAssistant).not.toEqual(engineBase); // the adapters change the output
    const g = (f: string) => join(dir, 'exports', 'assistant-gguf', f);
    expect(await llamaCppGreedy(g('base.gguf'), [g('domain.lora.gguf'), g('task.lora.gguf')], prompt, engineAssistant.length)).toEqual(engineAssistant);
    expect(await llamaCppGreedy(g('merged.gguf'), [], prompt, engineAssistant.length)).toEqual(engineAssistant);
    expect(await llamaCppGreedy(g('base.gguf'), [], prompt, engineBase.length)).toEqual(engineBase);

    expect(Object.values(actions(build())).every((a) => a === 'fresh')).toBe(true);
    p.exports['assistant-gguf'].type = 'Q8_0';
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(p, null, 2));
    const third = actions(build());
    expect(third['exports.assistant-gguf']).toBe('built');
    expect(Object.entries(third).filter(([n, a]) => n !== 'exports.assistant-gguf' && a !== 'fresh')).toEqual([]);
    expect(readFileSync(join(dir, 'exports', 'assistant-gguf', 'README.md'), 'utf8')).toContain('base.gguf and merged.gguf: Q8_0');
  }, 300_000);
});
