// Runs clang-format over native/src: `--check` (npm run lint) fails on any file that is not formatted, `--write`
// (npm run format) formats in place. Where clang-format is not installed it says so and skips (exit 0).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
if (mode !== '--check' && mode !== '--write') {
  console.error('usage: node scripts/clang-format.mjs --check | --write');
  process.exit(64);
}
const bin = process.env.CLANG_FORMAT ?? 'clang-format';
const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  console.log(
    `clang-format: "${bin}" not found: C++ formatting of native/src not ${mode === '--check' ? 'checked' : 'applied'} (apt-get install clang-format)`,
  );
  process.exit(0);
}

const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(cc|cpp|h|hpp|cu|cuh)$/.test(e.name)) files.push(relative(root, p));
  }
};
walk(join(root, 'native', 'src'));
files.sort();

const args = mode === '--check' ? ['--dry-run', '-Werror', '--style=file', ...files] : ['-i', '--style=file', ...files];
const r = spawnSync(bin, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  if (mode === '--check') console.error(`clang-format: native/src is not formatted (${probe.stdout.trim()}); \`npm run format\` fixes it`);
  process.exit(r.status ?? 1);
}
console.log(`clang-format: ${files.length} files in native/src ${mode === '--check' ? 'formatted' : 'formatted in place'} (${probe.stdout.trim()})`);
