// Checkpoints of a T5 adapter's training, as the Llama trainer keeps them (src/engine/checkpoint.ts: one atomic
// step-<n>/ folder, whole or discarded): the trainable adapter, the AdamW state with its step count, the position in
// the example stream and the logs so far. Resuming from one gives the adapter an uninterrupted run gives.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latestCheckpoint, writeCheckpoint } from '../../src/engine/checkpoint.ts';
import { T5Adapter, type T5Model, type T5Trainer } from '../../src/engine/t5.ts';
import { faultPoint } from '../../src/util/fault.ts';

/** Where a T5 training is: optimizer steps done and examples drawn from the seeded example stream. */
export interface T5TrainState {
  step: number;
  consumed: number;
}

export interface T5Resume {
  state: T5TrainState;
  trainLog: string[];
  validLog: { step: number; loss: number }[];
  /** The checkpoint's adapter weights under the fresh adapter's config (so the saved config is the same either way). */
  adapter: T5Adapter;
  optimizer: string;
}

/** The newest whole checkpoint of `key` under root (others discarded, each reason given to `log`); undefined: none. */
export async function findT5Checkpoint(
  root: string,
  key: string,
  model: T5Model,
  fresh: T5Adapter,
  log: (line: string) => void,
): Promise<T5Resume | undefined> {
  const { found, discarded } = latestCheckpoint(root, key);
  for (const d of discarded) log(`discarded checkpoint ${d}`);
  if (!found) {
    if (discarded.length) log('no whole checkpoint left; training from step 0');
    return undefined;
  }
  const loaded = await model.loadAdapter(found.dir, fresh.name);
  return {
    state: JSON.parse(readFileSync(join(found.dir, 'trainer_state.json'), 'utf8')) as T5TrainState,
    trainLog: readFileSync(join(found.dir, 'train_log.jsonl'), 'utf8').split('\n').filter(Boolean),
    validLog: JSON.parse(readFileSync(join(found.dir, 'valid_log.json'), 'utf8')) as { step: number; loss: number }[],
    adapter: new T5Adapter(loaded.handle, fresh.config, fresh.name),
    optimizer: join(found.dir, 'optimizer.safetensors'),
  };
}

/** Writes one checkpoint at `state.step` (the same fault points as the Llama trainer's, for the fault-injection tests). */
export async function saveT5Checkpoint(
  root: string,
  key: string,
  trainer: T5Trainer,
  state: T5TrainState,
  logs: { trainLog: string[]; validLog: { step: number; loss: number }[] },
): Promise<string> {
  return writeCheckpoint(root, { step: state.step, key }, async (dir) => {
    faultPoint('checkpoint.adapter', join(dir, 'adapter_model.safetensors'));
    await trainer.adapter.save(dir);
    faultPoint('checkpoint.optimizer', join(dir, 'optimizer.safetensors'));
    await trainer.saveState(join(dir, 'optimizer.safetensors'));
    faultPoint('checkpoint.state', join(dir, 'trainer_state.json'));
    writeFileSync(join(dir, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
    faultPoint('checkpoint.extra', join(dir, 'train_log.jsonl'));
    writeFileSync(join(dir, 'train_log.jsonl'), `${logs.trainLog.join('\n')}\n`);
    writeFileSync(join(dir, 'valid_log.json'), JSON.stringify(logs.validLog));
  });
}
