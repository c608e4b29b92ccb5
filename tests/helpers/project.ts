// Temp-project helper for functional tests: a throwaway project dir with files, a pipeline.json, in-process
// build/status, and the real CLI in a subprocess.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { build, statusOf, type BuildOptions } from '../../src/exec/build.ts';
import type { BuildReport, StageOutcome } from '../../src/exec/reporter.ts';
import { TOOLCHAIN } from './toolchain.ts';

export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_DIR, 'bin', 'peftmake.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type ProjectBuildOptions = Omit<BuildOptions, 'cwd' | 'file' | 'toolchain'> & Partial<Pick<BuildOptions, 'toolchain'>>;

export class TempProject {
  readonly dir: string;
  constructor(prefix = 'peftmake-test-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }
  path(rel: string): string {
    return join(this.dir, rel);
  }
  write(rel: string, text: string): this {
    mkdirSync(dirname(this.path(rel)), { recursive: true });
    writeFileSync(this.path(rel), text);
    return this;
  }
  read(rel: string): string {
    return readFileSync(this.path(rel), 'utf8');
  }
  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }
  remove(rel: string): void {
    rmSync(this.path(rel), { recursive: true, force: true });
  }
  list(rel: string): string[] {
    try {
      return readdirSync(this.path(rel)).sort();
    } catch {
      return [];
    }
  }
  pipeline(p: unknown): this {
    return this.write('pipeline.json', `${JSON.stringify(p, null, 2)}\n`);
  }
  /** A build in-process with the CLI's stage kinds and engine version unless `opts.toolchain` says otherwise. */
  build(opts: ProjectBuildOptions = {}): Promise<BuildReport> {
    return build({ toolchain: TOOLCHAIN, ...opts, file: this.path('pipeline.json') });
  }
  status(opts: ProjectBuildOptions = {}): Promise<BuildReport> {
    return statusOf({ toolchain: TOOLCHAIN, ...opts, file: this.path('pipeline.json') });
  }
  /** Runs the real CLI; never throws on a non-zero exit. */
  async cli(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
    const r = await execa('node', [CLI, ...args], { cwd: this.dir, reject: false, env: { ...opts.env, FORCE_COLOR: '0' } });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }
  /** Starts the CLI without waiting (for concurrency and kill tests). */
  spawnCli(args: string[]): ResultPromise {
    return execa('node', [CLI, ...args], { cwd: this.dir, reject: false });
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** name -> action, for compact assertions. */
export function actions(r: BuildReport): Record<string, StageOutcome['action']> {
  return Object.fromEntries(r.stages.map((s) => [s.name, s.action]));
}

export function stage(r: BuildReport, name: string): StageOutcome {
  const s = r.stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name} in report`);
  return s;
}

/** Polls until `cond` holds (or throws after `ms`). */
export async function waitFor(cond: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
