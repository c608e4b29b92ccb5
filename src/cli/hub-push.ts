// `peftmake push` (the command's logic): uploads the current version of a stage to a hub repo with @huggingface/hub — an export's
// materialised files (its model card included), or an adapter's PEFT files with a short card — in one commit whose
// message names the stage, version and key; records each push in artifacts/pushes.jsonl for `peftmake log`.
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { PeftError } from '../errors.ts';
import type { StageManifest } from '../stage.ts';
import type { StoreLayout } from '../store/layout.ts';
import { requireRef } from '../store/history.ts';
import { currentVersion } from '../store/refs.ts';
import { requireIntact } from '../store/verify.ts';
import { resolveHubOptions, type HubOptions } from '../hub/hub-options.ts';

export interface PushRequest {
  stage: string;
  repo: string;
  revision?: string;
  private?: boolean;
}

export interface PushRecord {
  stage: string;
  version: number;
  key: string;
  repo: string;
  revision: string;
  commit: string;
  url: string;
  files: string[];
  at: string;
}

const OUTS = 'outs';
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'];

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function adapterCard(m: StageManifest, version: number): string {
  const metrics = Object.entries(m.metrics)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `| ${k} | ${v} |`);
  return [
    '---',
    'library_name: peft',
    'tags:',
    '- peftmake',
    '- lora',
    '---',
    '',
    `# ${m.name}`,
    '',
    `Pushed by peftmake: ${m.name} v${version}, key \`${m.key}\`, engine ${m.engineVersion}, built ${m.createdAt}.`,
    '',
    ...(metrics.length ? ['| metric | value |', '|---|---|', ...metrics, ''] : []),
  ].join('\n');
}

/** The files a stage version pushes: path in the repo -> bytes. */
export function pushFiles(layout: StoreLayout, m: StageManifest, version: number): Map<string, Buffer> {
  const dir = layout.object(m.key);
  const files = new Map<string, Buffer>();
  if (m.outputs?.length && existsSync(join(dir, OUTS))) {
    const outs = join(dir, OUTS);
    // An export's directory (its config `path`) goes at the repo root; other captured outputs keep their paths.
    const path = (m.config as { path?: unknown }).path;
    const root = m.kind === 'export' && typeof path === 'string' && existsSync(join(outs, path)) ? join(outs, path) : outs;
    for (const f of walk(root)) files.set(relative(root, f).split(sep).join('/'), readFileSync(f));
    return files;
  }
  if (ADAPTER_FILES.every((f) => existsSync(join(dir, f)))) {
    for (const f of ADAPTER_FILES) files.set(f, readFileSync(join(dir, f)));
    files.set('README.md', Buffer.from(adapterCard(m, version)));
    return files;
  }
  throw new PeftError('E_USAGE', `${m.name} (${m.kind}) has nothing to push`, { hint: 'push an adapter or an export (exports.<name>)' });
}

export async function pushStage(layout: StoreLayout, req: PushRequest, options: HubOptions = {}): Promise<PushRecord> {
  const opts = resolveHubOptions(options);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(req.repo)) throw new PeftError('E_USAGE', `--repo ${req.repo}: expected owner/name`);
  if (opts.offline) throw new PeftError('E_HUB', `push ${req.stage}: HF_HUB_OFFLINE is set`, { hint: 'unset HF_HUB_OFFLINE to push' });
  if (!opts.token) throw new PeftError('E_HUB', `push ${req.stage}: no token`, { hint: 'set HF_TOKEN to a token with write access to ' + req.repo });
  const ref = requireRef(layout, req.stage);
  const v = currentVersion(ref)!;
  const mf = layout.manifest(v.key);
  if (!existsSync(mf))
    throw new PeftError('E_STORE', `${req.stage} v${v.version} (${v.key.slice(0, 12)}) is not in the store`, { hint: `rebuild ${req.stage}` });
  const m = requireIntact(layout, v.key, `${req.stage} v${v.version}`, 'it cannot be pushed: run `peftmake build` to rebuild it, then push'); // every byte
  const files = pushFiles(layout, m, v.version);
  const hub = await import('@huggingface/hub');
  const common = { hubUrl: opts.hubUrl, accessToken: opts.token, fetch: opts.fetch };
  const repo = { type: 'model' as const, name: req.repo };
  const revision = req.revision ?? 'main';
  const fail = (e: unknown, what: string): never => {
    const status = (e as { statusCode?: number }).statusCode;
    const hint =
      status === 401 || status === 403
        ? `the token in ${opts.tokenSource ?? 'HF_TOKEN'} cannot write to ${req.repo}`
        : status === 404
          ? `${req.repo} or its revision ${revision} does not exist on ${opts.hubUrl}`
          : undefined;
    throw new PeftError('E_HUB', `push ${req.stage} to ${req.repo}: ${what} failed${status ? ` (HTTP ${status})` : ''}: ${(e as Error).message}`, { hint });
  };
  try {
    await hub.createRepo({ ...common, repo, private: req.private ?? false });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 409) fail(e, 'creating the repo');
  }
  if (revision !== 'main') {
    try {
      await hub.createBranch({ ...common, repo, branch: revision });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 409) fail(e, `creating branch ${revision}`);
    }
  }
  let out: Awaited<ReturnType<typeof hub.commit>>;
  try {
    out = await hub.commit({
      ...common,
      repo,
      branch: revision,
      title: `peftmake: ${req.stage} v${v.version} (${v.key.slice(0, 12)})`,
      description: `stage key ${v.key}, engine ${m.engineVersion}`,
      operations: [...files].map(([path, bytes]) => ({ operation: 'addOrUpdate' as const, path, content: new Blob([new Uint8Array(bytes)]) })),
      useXet: false,
    });
  } catch (e) {
    fail(e, 'the commit');
  }
  const record: PushRecord = {
    stage: req.stage,
    version: v.version,
    key: v.key,
    repo: req.repo,
    revision,
    commit: out?.commit.oid ?? '',
    url: out?.commit.url ?? '',
    files: [...files.keys()].sort(),
    at: new Date().toISOString(),
  };
  appendFileSync(join(layout.root, 'pushes.jsonl'), JSON.stringify(record) + '\n');
  return record;
}

/** Pushes recorded for a stage, oldest first. */
export function pushesOf(layout: StoreLayout, stage: string): PushRecord[] {
  const f = join(layout.root, 'pushes.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PushRecord)
    .filter((r) => r.stage === stage);
}
