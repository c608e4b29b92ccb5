// `npm run bench`: runs every bench/*.bench.ts in its own process, one after another, forwarding their JSON lines
// (stdout lines that parse as JSON) and passing their stderr through. Optional args filter by file name.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const dir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
let failed = 0;
for (const f of files) {
  const sub = execa('node', ['--import', 'tsx', join(dir, f)], { cwd: join(dir, '..'), stderr: 'inherit', reject: false, buffer: false, lines: true });
  for await (const line of sub.iterable({ from: 'stdout' })) {
    const text = String(line).trim();
    if (!text) continue;
    try {
      JSON.parse(text);
      process.stdout.write(`${text}\n`);
    } catch {
      process.stderr.write(`[${f}] ${text}\n`);
    }
  }
  const r = await sub;
  if (r.exitCode !== 0) {
    failed++;
    process.stdout.write(`${JSON.stringify({ bench: f, error: `exited with ${r.exitCode ?? r.signal}` })}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
