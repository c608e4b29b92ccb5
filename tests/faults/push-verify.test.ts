// Fault injection, push: a stage whose committed object is damaged is never uploaded. `peftmake push` re-reads every
// byte first and refuses, naming the file and the fix, before any request (old code: read the files and pushed).
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { World, currentKeys, peftmake } from './harness.ts';

let w: World | undefined;
afterAll(() => w?.cleanup());

describe('push', () => {
  it('refuses a damaged object before any request, naming the file and the fix', async () => {
    w = new World({ stages: { notes: { cmd: 'cat notes/n0.md > all.txt', deps: ['notes/n0.md'], outs: ['all.txt'] } } });
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    const file = join(w.dir, 'artifacts', 'objects', currentKeys(w.dir)['stages.notes'], 'outs', 'all.txt');
    const fd = openSync(file, 'r+');
    writeSync(fd, 'X', 3);
    closeSync(fd);
    // a hub nobody listens on: a request would fail as "cannot reach", so an E_STORE error means none was made
    const r = await peftmake(w.dir, ['push', 'stages.notes', '--repo', 'me/notes'], { env: { HF_TOKEN: 'hf_test', HF_ENDPOINT: 'http://127.0.0.1:9' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error[E_STORE]: stages.notes v1 is corrupt in the store: ${file}: content differs from the sha256 recorded at commit`);
    expect(r.stderr).toContain('hint: it cannot be pushed: run `peftmake build` to rebuild it, then push');
  });
});
