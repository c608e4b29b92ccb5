// Planning half of a Slurm submission (pure): the sbatch argument list for a stage's job and its batch script, which
// execs `peftmake run-stage <stage> --key <key>` in the project directory so SIGTERM reaches peftmake itself.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SlurmOptions } from './choose.ts';

export interface JobSpec {
  stage: string;
  key: string;
  projectDir: string;
  pipelineFile: string;
  jobDir: string;
  script: string;
  log: string;
}

/** The command that starts peftmake on a compute node: this Node binary and this checkout (on the shared filesystem). */
export function defaultLauncher(): string[] {
  const bin = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'peftmake.js');
  return [process.execPath, bin];
}

const FLAGS: [keyof SlurmOptions, string][] = [
  ['partition', '--partition'],
  ['time', '--time'],
  ['cpusPerTask', '--cpus-per-task'],
  ['mem', '--mem'],
  ['gres', '--gres'],
  ['account', '--account'],
  ['qos', '--qos'],
  ['constraint', '--constraint'],
  ['nodes', '--nodes'],
  ['ntasksPerNode', '--ntasks-per-node'],
];

/** Job names are `peftmake:<stage>:<key prefix>`: squeue shows which stage a job builds. */
export function jobName(stage: string, key: string): string {
  return `peftmake:${stage}:${key.slice(0, 12)}`;
}

export function sbatchArgs(opts: SlurmOptions, job: JobSpec): string[] {
  const args = [
    '--parsable',
    `--job-name=${jobName(job.stage, job.key)}`,
    `--chdir=${job.projectDir}`,
    `--output=${job.log}`,
    '--open-mode=append',
    '--export=ALL',
  ];
  for (const [field, flag] of FLAGS) if (opts[field] !== undefined) args.push(`${flag}=${opts[field]}`);
  args.push(...(opts.sbatchArgs ?? []), job.script);
  return args;
}

/** POSIX shell single-quoting. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function batchScript(job: JobSpec, launcher: readonly string[] = defaultLauncher()): string {
  const argv = [...launcher, 'run-stage', job.stage, '--key', job.key, '--job-dir', job.jobDir, '--file', job.pipelineFile];
  return [
    '#!/bin/sh',
    `# peftmake: builds ${job.stage} (key ${job.key}) on a compute node; written by \`peftmake build\`.`,
    `cd ${shellQuote(job.projectDir)} || exit 1`,
    `exec ${argv.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

export function jobSpec(stage: string, key: string, projectDir: string, pipelineFile: string, jobDir: string): JobSpec {
  return { stage, key, projectDir, pipelineFile, jobDir, script: join(jobDir, 'job.sh'), log: join(jobDir, 'slurm.log') };
}
