// JSON Schema fragment of `executor` (top level of pipeline.json, and on heavy stage entries): where a stage runs —
// in this process (`local`) or as a Slurm batch job (`slurm`) — and the Slurm options, named as Slurm names them.
import type { JsonSchema } from '../stage.ts';

/** Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (sbatch --time). */
export const SLURM_TIME_PATTERN = '^(\\d+-\\d+(:\\d+){0,2}|\\d+(:\\d+){0,2})$';

export const executorSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Where stages run. `local`: in this process. `slurm`: each heavy stage that must be built becomes one sbatch job running `peftmake run-stage` on the shared project directory; the build commits its outputs. Not part of any stage key.',
  properties: {
    kind: {
      enum: ['local', 'slurm'],
      description: 'The executor: `local` or `slurm`. Unset on a stage: the top-level executor (or `build --executor`) decides.',
    },
    partition: { type: 'string', minLength: 1, description: 'sbatch --partition: the partition (queue) to submit to.' },
    time: {
      type: 'string',
      pattern: SLURM_TIME_PATTERN,
      description:
        'sbatch --time: the job time limit (minutes, HH:MM:SS or D-HH:MM:SS). At the limit Slurm sends SIGTERM: the stage checkpoints and is resubmitted.',
    },
    cpusPerTask: { type: 'integer', minimum: 1, description: 'sbatch --cpus-per-task: CPU cores for the training process.' },
    mem: { type: 'string', pattern: '^\\d+[KMGT]?$', description: 'sbatch --mem: memory per node, e.g. "16G".' },
    gres: { type: 'string', minLength: 1, description: 'sbatch --gres: generic resources, e.g. "gpu:1" or "gpu:a100:4".' },
    account: { type: 'string', minLength: 1, description: 'sbatch --account: the account charged for the job.' },
    qos: { type: 'string', minLength: 1, description: 'sbatch --qos: the quality of service.' },
    constraint: { type: 'string', minLength: 1, description: 'sbatch --constraint: node features required, e.g. "a100".' },
    nodes: { type: 'integer', minimum: 1, description: 'sbatch --nodes: nodes for the job (a command stage launching torchrun/srun across nodes).' },
    ntasksPerNode: { type: 'integer', minimum: 1, description: 'sbatch --ntasks-per-node: tasks per node (for srun inside a command stage).' },
    sbatchArgs: {
      type: 'array',
      items: { type: 'string', pattern: '^-', description: 'One sbatch argument, e.g. "--signal=B:TERM@120".' },
      description: 'Extra sbatch arguments, one per item (never a shell string), added after the options above.',
    },
    resubmit: {
      type: 'integer',
      minimum: 0,
      description:
        'How many times a stage whose job was preempted, hit its time limit or lost its node is resubmitted (it resumes from its checkpoint). Default 3.',
    },
    pollSeconds: {
      type: 'number',
      exclusiveMinimum: 0,
      description: 'How often the build asks Slurm (squeue) about its jobs and reads their logs. Default 2.',
    },
  },
};

/** The `executor` property of a heavy stage entry: overrides the top-level executor for that stage (absent: inherit). */
export const stageExecutorProperty: JsonSchema = {
  $ref: '#/$defs/executor',
  description: 'Where this stage runs, overriding the top-level `executor` field by field (`build --executor` overrides both). Not part of the stage key.',
};

/** The top-level `executor` property (absent: local). */
export const topExecutorProperty: JsonSchema = {
  $ref: '#/$defs/executor',
  description:
    'Where heavy stages (training, heavy command stages) run by default: `{"kind": "local"}` (the default) or `{"kind": "slurm", ...Slurm options}`. Light stages always run locally.',
};
