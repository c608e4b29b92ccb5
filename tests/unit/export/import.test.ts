// `adapters.<name>.import`: the PEFT fixture adapters imported from a path and from the hub (test hub server; the
// commit sha in the resolved facts, offline from the HF cache the second time) give the fixtures' transformers +
// PEFT greedy ids alone and stacked; an adapter for another base, config/weights that disagree, a hub 401 / 404 are
// clear errors that commit nothing.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/index.ts';
import type { UpstreamArtifact } from '../../../src/stage.ts';
import { resolveImport, runImportStage, type ImportStageConfig } from '../../../stages/adapter/import-stage.ts';
import { runModelStage } from '../../../stages/model/model-stage.ts';
import { filesFromDir, startHubServer, type HubServer } from '../../helpers/hub-server.ts';
import { makeHarness, type Harness } from '../../helpers/stage-harness.ts';
import { FIX, fixtureSkip, MODEL, PEFT_FIX } from './export-fixtures.ts';

const SHA = 'a'.repeat(40);

describe.skipIf(fixtureSkip !== '')(`adapter import${fixtureSkip ? ` (skipped: ${fixtureSkip})` : ''}`, () => {
  let h: Harness;
  let model: UpstreamArtifact;
  let server: HubServer;
  const cache = mkdtempSync(join(tmpdir(), 'peftmake-import-cache-'));
  const saved = { ...process.env };
  const expected = JSON.parse(readFileSync(join(PEFT_FIX, 'expected.json'), 'utf8'));
  const imp = (name: string, spec: ImportStageConfig['import'], resolved?: Record<string, unknown>, base = model) =>
    h.build(`adapters.${name}`, runImportStage, { base: 'base', import: spec } as ImportStageConfig, [base], { resolved });

  beforeAll(async () => {
    h = makeHarness();
    model = (await h.build('models.base', runModelStage, { path: MODEL }, [])).artifact;
    server = await startHubServer({
      'someone/lora-b': { type: 'model', revisions: { main: SHA }, files: filesFromDir(join(PEFT_FIX, 'lora-b')) },
      'someone/private-lora': { type: 'model', revisions: { main: SHA }, files: filesFromDir(join(PEFT_FIX, 'lora-b')), private: true, tokens: ['secret'] },
    });
    Object.assign(process.env, { HF_ENDPOINT: server.url, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '0' });
    delete process.env.HF_TOKEN;
  }, 60_000);
  afterAll(async () => {
    process.env = saved;
    await server?.close();
    h?.cleanup();
    rmSync(cache, { recursive: true, force: true });
  });

  it("from a path and from the hub: validated, committed like a trained adapter, the fixtures' outputs alone and stacked", async () => {
    const a = await imp('a', { path: join(PEFT_FIX, 'lora-a') });
    expect(a.result.summary).toMatch(/imported .*lora-a: r 8, alpha 16, 35 modules fit models\.base/);
    const resolved = await resolveImport({ hub: 'someone/lora-b', revision: 'main' });
    expect(resolved).toEqual({ hub: 'someone/lora-b', revision: 'main', sha: SHA });
    const b = await imp('b', { hub: 'someone/lora-b', revision: 'main' }, resolved);
    const meta = JSON.parse(readFileSync(join(b.artifact.dir, 'adapter.json'), 'utf8'));
    expect(meta).toMatchObject({ objective: 'imported', base: { name: 'base', key: model.key }, data: { name: `hub:someone/lora-b@${SHA.slice(0, 12)}` } });
    // Offline after the first time: the same import again makes no request.
    server.clearLog();
    process.env.HF_HUB_OFFLINE = '1';
    await imp('b', { hub: 'someone/lora-b', revision: 'main' }, resolved);
    expect(server.requests).toEqual([]);
    process.env.HF_HUB_OFFLINE = '0';
    const engine = await loadModel({ dir: MODEL, compute: 'fp32' });
    const la = await engine.loadAdapter(a.artifact.dir, 'a');
    const lb = await engine.loadAdapter(b.artifact.dir, 'b');
    const prompt = expected.prompt.ids;
    expect(await engine.generate(prompt, { maxTokens: 40, temperature: 0, eos: [] }, [{ adapter: la }])).toEqual(expected.cases['lora-a'].greedy_ids);
    expect(await engine.generate(prompt, { maxTokens: 40, temperature: 0, eos: [] }, [{ adapter: lb }])).toEqual(expected.cases['lora-b'].greedy_ids);
    expect(await engine.generate(prompt, { maxTokens: 40, temperature: 0, eos: [] }, [{ adapter: la }, { adapter: lb }])).toEqual(
      expected.cases['lora-a+lora-b'].greedy_ids,
    );
  }, 60_000);

  it("bad input: another base's adapter, weights outside target_modules, hub 401 and 404 — clear errors, nothing committed", async () => {
    const other = (await h.build('models.other', runModelStage, { path: join(FIX, 'hf-tiny', 'llama-gqa-untied') }, [])).artifact;
    await expect(imp('x', { path: join(PEFT_FIX, 'lora-a') }, undefined, { ...other, name: 'models.base' })).rejects.toThrow(
      /module "base_model\.model\.model\.layers\.0\.mlp\.down_proj": lora_A is \[8, 172\] and lora_B \[64, 8\], but model\.layers\.0\.mlp\.down_proj\.weight in the base is \[64, 128\] \(needs lora_A \[r, 128\], lora_B \[64, r\]\)/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'peftmake-import-bad-'));
    cpSync(join(PEFT_FIX, 'lora-a'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'v_proj'] }));
    await expect(imp('x', { path: dir })).rejects.toThrow(
      /module "base_model\.model\.model\.layers\.0\.mlp\.down_proj" is not among target_modules \["q_proj","v_proj"\]/,
    );
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, fan_in_fan_out: true }));
    await expect(imp('x', { path: dir })).rejects.toThrow(/fan_in_fan_out: is true/);
    rmSync(dir, { recursive: true, force: true });
    await expect(resolveImport({ hub: 'someone/private-lora' })).rejects.toMatchObject({
      code: 'E_HUB',
      message: expect.stringMatching(/401|HF_TOKEN|token/i),
    });
    await expect(resolveImport({ hub: 'someone/missing' })).rejects.toMatchObject({ code: 'E_HUB', message: expect.stringMatching(/someone\/missing/) });
    expect(h.pipeline.adapters.x).toBeDefined(); // the harness saw the attempts; no adapters.x artifact was committed
  }, 60_000);
});
