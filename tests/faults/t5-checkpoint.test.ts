// Fault injection, T5 training checkpoints (as checkpoint.test.ts for the Llama trainer): a T5 adapter with LoRA dropout
// checkpointing every 2 of 6 steps, killed mid-way through its 2nd checkpoint, resumes from the 1st whole one and ends
// byte-identical to an uninterrupted build of the same key (adapter, logs; the dropout masks drawn again).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_ADDON, World, actions, currentKeys, peftmake, storeContent } from './harness.ts';

const NOTES = [
  ['The build tool peftmake', ' trains adapters and keeps every version.'],
  ['A stage key is', ' the hash of its config and inputs.'],
  ['A composition stacks', ' the base and its adapters at run time.'],
  ['The store keeps', ' each artifact under its key.'],
  ['A dataset stage', ' tokenises records for the model.'],
  ['Rollback moves', ' a ref to an older key.'],
];
const PIPELINE = {
  models: { t5: { init: { modelType: 't5', vocabSize: 512, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, seed: 0 } } },
  datasets: { notes: { model: 't5', source: { files: ['data/notes.jsonl'] }, format: 'completion', split: { valid: 0.2, seed: 1 } } },
  adapters: {
    domain: {
      base: 't5',
      data: 'notes',
      maxSteps: 6,
      checkpointEvery: 2,
      evalEvery: 2,
      quant: 'none',
      compute: 'fp32',
      lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v', 'wo'] },
      lr: 0.01,
      batchSize: 2,
      seqLen: 32,
    },
  },
};

const world = () => {
  const w = new World(PIPELINE);
  mkdirSync(join(w.dir, 'data'));
  writeFileSync(join(w.dir, 'data', 'notes.jsonl'), `${NOTES.map(([prompt, completion]) => JSON.stringify({ prompt, completion })).join('\n')}\n`);
  return w;
};

let worlds: World[] = [];
afterEach(() => {
  for (const w of worlds) w.cleanup();
  worlds = [];
});

describe.skipIf(NO_ADDON !== '')(`t5 checkpoints${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  it('SIGKILL inside the 2nd checkpoint: the next build resumes at step 2 and equals an uninterrupted build', async () => {
    const clean = world();
    const killed = world();
    worlds.push(clean, killed);
    const ref = await peftmake(clean.dir, ['build', '--json']);
    expect(ref.code, ref.stderr).toBe(0);
    const first = await peftmake(killed.dir, ['build', '--json'], { fault: 'checkpoint.state@2:kill' });
    expect(first.signal).toBe('SIGKILL');
    const again = await peftmake(killed.dir, ['build', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('adapters.domain: resuming from the checkpoint at step 2/6');
    expect(again.stderr).toMatch(/discarded checkpoint \.tmp-\d+-\w+: an unfinished checkpoint write/);
    expect(actions(again)['adapters.domain']).toBe('built');
    expect(currentKeys(killed.dir)).toEqual(currentKeys(clean.dir));
    expect(storeContent(killed.dir)).toEqual(storeContent(clean.dir));
  });
});
