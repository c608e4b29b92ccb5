// Fault injection, a silent hub: an endpoint that accepts connections and never answers. The build does not hang:
// each request times out (HF_HUB_DOWNLOAD_TIMEOUT), is retried with backoff (PEFTMAKE_HUB_RETRIES), and the stage
// fails with a message naming the hub, what happened and the settings that change it. A hub that sends its headers and
// then stops mid-body fails the same way after the timeout between chunks (old code: hung until the test's limit).
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { World, peftmake } from './harness.ts';

let w: World | undefined;
let close: (() => void) | undefined;
afterEach(() => {
  close?.();
  w?.cleanup();
});

describe('silent hub', () => {
  it('times out, retries with backoff, and fails with a clear message', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s)); // accept, read nothing, answer nothing
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    close = () => {
      for (const s of sockets) s.destroy();
      server.close();
    };
    const port = (server.address() as { port: number }).port;
    w = new World({ models: { base: { hub: 'org/tiny', revision: 'main' } } });
    const t0 = Date.now();
    const r = await peftmake(w.dir, ['build', '--json'], {
      env: { HF_ENDPOINT: `http://127.0.0.1:${port}`, HF_HUB_CACHE: `${w.root}/hub-cache`, HF_HUB_DOWNLOAD_TIMEOUT: '0.5', PEFTMAKE_HUB_RETRIES: '2' },
      timeout: 30_000,
    });
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const s = r.json!.stages[0];
    expect(s.action).toBe('failed');
    expect(s.error).toMatch(
      new RegExp(
        `^the hub at http://127\\.0\\.0\\.1:${port} did not answer \\S+: no answer within 0\\.5 s \\(3 tries\\); .*HF_HUB_DOWNLOAD_TIMEOUT=<seconds> waits longer`,
      ),
    );
    expect(sockets.length).toBeGreaterThanOrEqual(3); // each try a new connection
  });
});

describe('stalled hub body', () => {
  it('headers, a few bytes, then silence: the read times out naming the URL and the setting', async () => {
    const sockets: Socket[] = [];
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
      res.write('{"id":"org/tiny","sha":"'); // ... and nothing more (a slow start is retried; a stalled body is not)
    });
    server.on('connection', (s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    close = () => {
      for (const s of sockets) s.destroy();
      server.close();
    };
    const port = (server.address() as { port: number }).port;
    w = new World({ models: { base: { hub: 'org/tiny', revision: 'main' } } });
    const t0 = Date.now();
    const r = await peftmake(w.dir, ['build'], {
      env: { HF_ENDPOINT: `http://127.0.0.1:${port}`, HF_HUB_CACHE: `${w.root}/hub-cache`, HF_HUB_DOWNLOAD_TIMEOUT: '1', PEFTMAKE_HUB_RETRIES: '3' },
      timeout: 30_000,
    });
    expect(r.signal).toBeUndefined();
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.stdout).toMatch(
      new RegExp(
        `the hub at http://127\\.0\\.0\\.1:${port} stopped sending http://127\\.0\\.0\\.1:${port}/\\S+: no data for 1 s after 24 byte\\(s\\) of the response`,
      ),
    );
    expect(r.stdout).toContain('; check the network or HF_ENDPOINT; HF_HUB_DOWNLOAD_TIMEOUT=<seconds> waits longer between chunks');
  });
});
