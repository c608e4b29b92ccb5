// Learning-rate schedules with linear warmup, as transformers' get_{constant,linear,cosine}_schedule_with_warmup
// define them: the lr of optimizer step k (0-based) is lr * lambda(k).
import { PeftError } from '../errors.ts';

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export function lrAt(kind: ScheduleKind, lr: number, step: number, totalSteps: number, warmupSteps: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return (lr * step) / Math.max(1, warmupSteps);
  if (kind === 'constant') return lr;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (kind === 'linear') return lr * Math.max(0, 1 - progress);
  if (kind === 'cosine') return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  throw new PeftError('E_ENGINE', `unknown lr schedule '${String(kind)}' (constant, linear or cosine)`);
}
