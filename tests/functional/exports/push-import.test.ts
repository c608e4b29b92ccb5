// A pipeline that imports the PEFT fixture adapter (no training) and exports it, built and pushed by the real CLI to
// the test hub server: the commit holds the adapter, the tokenizer and the model card, its message names the
// stage version and key, `peftmake log` shows where the version went; a bad token (401) and an unknown endpoint
// (404) are clear errors that record nothing.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../../helpers/hub-server.ts';
import { CLI, TempProject } from '../../helpers/project.ts';
import { fixtureSkip, MODEL, PEFT_FIX } from '../../unit/export/export-fixtures.ts';

describe.skipIf(fixtureSkip !== '')(`push and import through the CLI${fixtureSkip ? ` (skipped: ${fixtureSkip})` : ''}`, () => {
  let p: TempProject;
  let server: HubServer;
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const r = await execa('node', [CLI, ...args], { cwd: p.dir, reject: false, env: { FORCE_COLOR: '0', HF_HUB_OFFLINE: '0', ...env } });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };

  beforeAll(async () => {
    server = await startHubServer({}, { writeTokens: ['hf_write_token'] });
    p = new TempProject('peftmake-push-').pipeline({
      models: { base: { path: MODEL } },
      adapters: { a: { base: 'base', import: { path: join(PEFT_FIX, 'lora-a') } } },
      exports: { 'a-peft': { adapter: 'a', path: 'exports/a' } },
    });
  });
  afterAll(async () => {
    await server?.close();
    p?.cleanup();
  });

  it('imports, exports, pushes the export (files + model card), and log shows the push', async () => {
    const b = await run(['build', '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).stages.map((s: { name: string; action: string }) => `${s.name}:${s.action}`)).toEqual([
      'models.base:built',
      'adapters.a:built',
      'exports.a-peft:built',
    ]);
    const r = await run(['push', 'exports.a-peft', '--repo', 'me/a-lora', '--json'], { HF_ENDPOINT: server.url, HF_TOKEN: 'hf_write_token' });
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(server.commits).toHaveLength(1);
    const c = server.commits[0];
    expect(c.repo).toBe('me/a-lora');
    expect(c.summary).toMatch(/^peftmake: exports\.a-peft v1 \([0-9a-f]{12}\)$/);
    expect(c.files).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(rec.commit).toBe(c.sha);
    const files = server.repos['me/a-lora'].commits![c.sha] as Record<string, Buffer>;
    expect(files['adapter_model.safetensors'].equals(readFileSync(join(PEFT_FIX, 'lora-a', 'adapter_model.safetensors')))).toBe(true);
    expect(files['README.md'].toString()).toMatch(/library_name: peft/);
    const log = await run(['log', 'exports.a-peft']);
    expect(log.stdout).toMatch(new RegExp(`pushed → me/a-lora@main  commit ${c.sha.slice(0, 12)}`));
    const adapterPush = await run(['push', 'adapters.a', '--repo', 'me/a-adapter', '--revision', 'v1'], {
      HF_ENDPOINT: server.url,
      HF_TOKEN: 'hf_write_token',
    });
    expect(adapterPush.code, adapterPush.stderr).toBe(0);
    expect(server.commits[1]).toMatchObject({ repo: 'me/a-adapter', revision: 'v1', files: ['README.md', 'adapter_config.json', 'adapter_model.safetensors'] });
  }, 120_000);

  it('401 with a token that cannot write, 404 from an unknown endpoint: clear errors, nothing recorded', async () => {
    const before = readFileSync(p.path('artifacts/pushes.jsonl'), 'utf8');
    const bad = await run(['push', 'exports.a-peft', '--repo', 'me/other'], { HF_ENDPOINT: server.url, HF_TOKEN: 'hf_read_only' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/push exports\.a-peft to me\/other: creating the repo failed \(HTTP 401\)/);
    expect(bad.stderr).toMatch(/cannot write to me\/other/);
    const missing = await run(['push', 'exports.a-peft', '--repo', 'me/other'], { HF_ENDPOINT: `${server.url}/nowhere`, HF_TOKEN: 'hf_write_token' });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/HTTP 404/);
    const none = await run(['push', 'exports.a-peft', '--repo', 'me/other'], { HF_ENDPOINT: server.url, HF_TOKEN: '' });
    expect(none.stderr).toMatch(/no token/);
    expect(readFileSync(p.path('artifacts/pushes.jsonl'), 'utf8')).toBe(before);
    expect(server.commits).toHaveLength(2);
    expect(existsSync(p.path('exports/a/README.md'))).toBe(true);
  }, 60_000);
});
