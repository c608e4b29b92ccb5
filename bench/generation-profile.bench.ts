// Where a generation step's time goes (JSON lines): the bench model shape (SmolLM2-135M, random init), NF4, batch 1,
// 2 threads, a 16-token prompt then 64 greedy tokens, per compute mode (fp32; int8), the engine profiler's op-family
// milliseconds per token and their shares, pool regions per token. Run: `npm run bench generation-profile`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initModel, SMOLLM2_135M_SHAPE } from '../src/engine/init-model.ts';
import { loadModel } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { cpuFlags, emitJson, loadAverage, round } from './lib/system.ts';

interface Profile {
  families: Record<string, number>;
  poolRegions: number;
}

const NEW_TOKENS = 64;
const dir = mkdtempSync(join(tmpdir(), 'peft-genprof-'));
try {
  initModel(dir, { ...SMOLLM2_135M_SHAPE, seed: 0, tokenizer: 'none' });
  const prompt = Array.from({ length: 16 }, (_, i) => 10 + i);
  for (const compute of ['fp32', 'int8'] as const) {
    const m = await loadModel({ dir, quant: 'nf4', compute, threads: 2 });
    await m.generate(prompt, { maxTokens: 8 }); // warm-up
    nativeEngine().engineProfile({ reset: true });
    const t0 = performance.now();
    const out = await m.generate(prompt, { maxTokens: NEW_TOKENS });
    const secs = (performance.now() - t0) / 1000;
    const p = nativeEngine().engineProfile({ reset: true }) as Profile;
    const used = Object.entries(p.families).filter(([, s]) => s > 0);
    const total = used.reduce((a, [, s]) => a + s, 0);
    emitJson({
      bench: 'generation-profile',
      quant: 'nf4',
      compute,
      prompt_tokens: prompt.length,
      new_tokens: out.length,
      tokens_per_s: round(out.length / secs, 1),
      ms_per_token: round((secs * 1000) / out.length, 2),
      family_ms_per_token: Object.fromEntries(used.map(([k, s]) => [k, round((s * 1000) / out.length, 2)])),
      family_share: Object.fromEntries(used.map(([k, s]) => [k, round(s / total, 3)])),
      pool_regions_per_token: Math.round(p.poolRegions / out.length),
      note: 'the prompt forward is inside the totals (one step of 16 rows); matmul_frozen_fwd = the NF4 projections, lmhead_ce = the head',
      cpu_flags: cpuFlags(),
      loadavg: loadAverage(),
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
