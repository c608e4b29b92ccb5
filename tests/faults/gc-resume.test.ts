// Fault injection, checkpoint leftovers: a build killed mid-training leaves a resume folder; once the stage's inputs
// change, that folder is abandoned and `gc` removes it (keeping the one the next build would resume from). A failed
// stage leaves no empty resume folder behind.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_ADDON, TRAIN, World, adapterPipeline, peftmake } from './harness.ts';

let w: World | undefined;
afterEach(() => w?.cleanup());

const resumeKeys = (stage: string): string[] => {
  const d = join(w!.dir, 'artifacts', 'resume', stage);
  return existsSync(d) ? readdirSync(d) : [];
};

describe.skipIf(NO_ADDON !== '')(`resume leftovers${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  it('gc removes the resume folder of a key no build will resume, and keeps the live one', async () => {
    w = new World();
    expect((await peftmake(w.dir, ['build'], { fault: 'checkpoint.optimizer@2:kill' })).signal).toBe('SIGKILL');
    const [abandoned] = resumeKeys('adapters.domain');
    expect(abandoned).toBeDefined();
    // Still the key the next build would build: gc keeps it.
    const keep = await peftmake(w.dir, ['gc', '--json']);
    expect(keep.code, keep.stderr).toBe(0);
    expect(resumeKeys('adapters.domain')).toEqual([abandoned]);
    // A changed input makes it abandoned: gc removes it and says so.
    w.pipeline(adapterPipeline({ adapters: { domain: { base: 'base', data: 'notes', maxSteps: 6, checkpointEvery: 2, evalEvery: 2, ...TRAIN, lr: 0.002 } } }));
    const gc = await peftmake(w.dir, ['gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/removed 0 artifact\(s\) and 1 abandoned resume folder\(s\)/);
    expect(resumeKeys('adapters.domain')).toEqual([]);
  });

  it('a failed stage leaves no empty resume folder', async () => {
    w = new World({ stages: { bad: { cmd: 'exit 3' } } });
    expect((await peftmake(w.dir, ['build'])).code).toBe(1);
    expect(existsSync(join(w.dir, 'artifacts', 'resume', 'stages.bad'))).toBe(false);
  });
});
