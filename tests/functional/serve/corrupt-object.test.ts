// serve verifies a model's store objects before serving it: an adapter object whose file no longer matches its manifest
// is answered 503 with an error object naming it (never generated from), other models keep being served, and the
// model is served again once the object is intact.
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLCHAIN } from '../../../src/cli/toolchain.ts';
import { nativeEngine } from '../../../src/engine/native.ts';
import { startServer, type RunningServer } from '../../../src/serve/server.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { currentVersion, readRef } from '../../../src/store/refs.ts';
import { TempProject } from '../../helpers/project.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const MODEL = join(ROOT, 'models', 'stories260K');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';
const train = { quant: 'none', compute: 'fp32', lora: { r: 2, alpha: 4, dropout: 0 }, maxSteps: 2, batchSize: 2, seqLen: 32, checkpointEvery: 0 };

describe.skipIf(skip !== '')(`serve never serves a corrupt object${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let s: RunningServer;
  const complete = (model: string) =>
    fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: 3, temperature: 0 }),
    });

  beforeAll(async () => {
    nativeEngine().setThreads(1);
    p = new TempProject('peftmake-serve-corrupt-');
    cpSync(join(MODEL, 'ATTRIBUTION.md'), p.path('notes.txt'));
    p.pipeline({
      models: { base: { path: MODEL } },
      datasets: { notes: { model: 'base', source: { files: ['notes.txt'] }, format: 'text', seqLen: 32, split: { valid: 0 } } },
      adapters: { notes: { base: 'base', data: 'notes', ...train } },
    });
    expect((await p.build()).ok).toBe(true);
    s = await startServer({ projectDir: p.dir, toolchain: TOOLCHAIN, port: 0, log: () => {} });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    p?.cleanup();
  });

  it('503 naming the damaged file while it is damaged; the base still served; served again once repaired', async () => {
    expect((await complete('notes')).status).toBe(200); // loaded and cached while intact
    const layout = new StoreLayout(p.dir);
    const key = currentVersion(readRef(layout, 'adapters.notes'))!.key;
    const file = join(layout.object(key), readdirSync(layout.object(key)).find((f) => f.endsWith('.safetensors'))!);
    const good = readFileSync(file);
    const mode = statSync(file).mode;
    chmodSync(file, 0o644);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff; // same size: only the hash can tell
    writeFileSync(file, bad);
    const r = await complete('notes');
    expect(r.status).toBe(503);
    const err = ((await r.json()) as { error: { message: string; code: string; type: string } }).error;
    expect(err).toMatchObject({ code: 'corrupt_object', type: 'server_error' });
    expect(err.message).toContain('adapters.notes v1');
    expect(err.message).toContain(key.slice(0, 12));
    expect(err.message).toContain(`${file}: content differs from the sha256 recorded at commit`);
    expect((await complete('base')).status).toBe(200);
    writeFileSync(file, good);
    chmodSync(file, mode);
    expect((await complete('notes')).status).toBe(200);
  });
});
