// Fault injection, training checkpoints: a SIGKILL or a full disk between the files of a checkpoint must never let
// the next build resume from a torn mix (adapter at one step, optimizer at another); it completes byte-identical to a
// clean build of the same key, and a half-deleted checkpoint does not wedge the stage.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_ADDON, World, actions, cleanReference, currentKeys, peftmake, storeContent, treeHashes } from './harness.ts';

let w: World | undefined;
afterEach(() => w?.cleanup());

describe.skipIf(NO_ADDON !== '')(`checkpoints${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  it.each([
    ['SIGKILL between the adapter and the optimizer of the 2nd checkpoint', 'checkpoint.optimizer@2:kill'],
    ['SIGKILL between the optimizer and the trainer state of the 2nd checkpoint', 'checkpoint.state@2:kill'],
    ['ENOSPC writing the optimizer of the 2nd checkpoint', 'checkpoint.optimizer@2:enospc'],
  ])('%s: the next build completes identical to a clean build', async (_what, fault) => {
    const ref = await cleanReference();
    w = new World();
    const outside = treeHashes(w.outside);
    const first = await peftmake(w.dir, ['build', '--json'], { fault });
    if (fault.endsWith(':kill')) expect(first.signal).toBe('SIGKILL');
    else {
      expect(first.code).toBe(1);
      const failed = first.json!.stages.find((s) => s.name === 'adapters.domain')!;
      expect(failed.error).toMatch(/^no space left on the device \(ENOSPC\) writing \S+\/optimizer\.safetensors; free space on that filesystem/);
    }
    const again = await peftmake(w.dir, ['build', '--json']);
    expect(again.code, again.stderr).toBe(0);
    // It resumed from the last whole checkpoint (step 2), not from the torn one, and said why.
    expect(again.stderr).toContain('adapters.domain: resuming from the checkpoint at step 2/6');
    if (fault.endsWith(':kill')) expect(again.stderr).toMatch(/discarded checkpoint \.tmp-\d+-\w+: an unfinished checkpoint write/);
    expect(actions(again)['adapters.domain']).toBe('built');
    expect(currentKeys(w.dir)).toEqual(ref.keys);
    expect(storeContent(w.dir)).toEqual(ref.content);
    expect(treeHashes(w.outside)).toEqual(outside);
  });
});

describe.skipIf(NO_ADDON !== '')(`half-deleted checkpoints${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  it('a checkpoint with a file deleted is discarded with its reason, never resumed; the build completes identical', async () => {
    const ref = await cleanReference();
    w = new World();
    expect((await peftmake(w.dir, ['build'], { fault: 'checkpoint.adapter@3:kill' })).signal).toBe('SIGKILL');
    const root = join(w.dir, 'artifacts', 'resume', 'adapters.domain');
    const [key] = readdirSync(root);
    const steps = readdirSync(join(root, key, 'checkpoints')).filter((n) => n.startsWith('step-'));
    expect(steps).toEqual(['step-00000004']);
    rmSync(join(root, key, 'checkpoints', steps[0], 'optimizer.safetensors'));
    const again = await peftmake(w.dir, ['build', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('discarded checkpoint step-00000004: optimizer.safetensors is missing');
    expect(again.stderr).toContain('adapters.domain: no whole checkpoint left; training from step 0');
    expect(storeContent(w.dir)).toEqual(ref.content);
    expect(existsSync(root)).toBe(false); // committed: the resume folder is gone
  });
});
