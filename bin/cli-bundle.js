// The CLI's esbuild bundle (node_modules/.cache/peftmake-cli/): built from src/cli/main.ts on first use and again
// whenever a bundled source file changed (size or mtime), so `peftmake` starts without tsx transforming every module.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(REPO, 'src', 'cli', 'main.ts');
/** Where bundles live; PEFTMAKE_CLI_CACHE moves it (tests), but keep it inside the repo: packages resolve from there. */
const CACHE = process.env.PEFTMAKE_CLI_CACHE ? resolve(process.env.PEFTMAKE_CLI_CACHE) : join(REPO, 'node_modules', '.cache', 'peftmake-cli');
const CURRENT = join(CACHE, 'current.json');
const FORMAT = 4; // bump when the bundle's layout or build options change
const STALE_BUILD_MS = 24 * 3600 * 1000;
const KEEP_BUILDS = 20;

/** The bundle's record: where it is and the size and mtime of every file it was built from. */
function readCurrent() {
  try {
    const cur = JSON.parse(readFileSync(CURRENT, 'utf8'));
    return cur && cur.format === FORMAT && Array.isArray(cur.inputs) ? cur : undefined;
  } catch {
    return undefined;
  }
}

function isFresh(cur) {
  if (!existsSync(join(CACHE, cur.dir, 'main.js'))) return false;
  for (const f of cur.inputs) {
    let st;
    try {
      st = statSync(f.path);
    } catch {
      return false;
    }
    if (st.size !== f.size || st.mtimeMs !== f.mtimeMs) return false;
  }
  return true;
}

/** The sources keep their own file URL for import.meta: paths found relative to them (the native addon) do not move. */
const keepImportMeta = {
  name: 'keep-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
        .replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href))
        .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(args.path)))
        .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(args.path));
      return { contents: text, loader: 'ts' };
    });
  },
};

/** Every dependency of package.json (and its subpaths) but yargs: esbuild leaves these as imports. */
function externalPackages() {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const names = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.devDependencies }).filter((n) => n !== 'yargs');
  return names.flatMap((n) => [n, `${n}/*`]);
}

async function rebuild() {
  const esbuild = await import('esbuild');
  const id = `b-${Date.now()}-${process.pid}`;
  const outdir = join(CACHE, id);
  const started = Date.now();
  const result = await esbuild.build({
    entryPoints: { main: ENTRY },
    bundle: true,
    splitting: true, // dynamic imports stay lazy: each becomes a chunk loaded on first use
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Packages load from node_modules, except yargs (and what it imports), bundled in: its ~20 modules resolved and
    // compiled one by one cost ~120 ms of every start; bundled, one chunk. y18n finds no locale files from the bundle
    // and prints yargs' messages in English, as the CLI's own messages are.
    external: externalPackages(),
    outdir,
    absWorkingDir: REPO,
    metafile: true,
    sourcemap: true, // stack traces of internal errors name the TypeScript sources (see peftmake.js)
    logLevel: 'silent',
    plugins: [keepImportMeta],
  });
  // Also this file and what esbuild reads besides the sources (compiler options, the package's "type").
  const settings = [fileURLToPath(import.meta.url), join(REPO, 'tsconfig.json'), join(REPO, 'package.json')].filter((f) => existsSync(f));
  const sources = [...Object.keys(result.metafile.inputs).map((p) => resolve(REPO, p)), ...settings];
  const inputs = sources.map((path) => {
    const st = statSync(path);
    // Changed while esbuild ran: the bundle may hold the old text, so the record must not match and the next start rebuilds.
    return { path, size: st.size, mtimeMs: st.mtimeMs >= started ? -1 : st.mtimeMs };
  });
  const tmp = `${CURRENT}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ format: FORMAT, dir: id, esbuild: esbuild.version, inputs }));
  renameSync(tmp, CURRENT); // atomic: a concurrent start sees the old bundle or the new one
  // Old builds go after a day, or beyond the newest KEEP_BUILDS (a running process may still load their chunks).
  const builds = readdirSync(CACHE).filter((d) => /^b-\d+-\d+$/.test(d) && d !== id);
  builds.sort((a, b) => Number(b.split('-')[1]) - Number(a.split('-')[1]));
  builds.forEach((d, i) => {
    if (i < KEEP_BUILDS - 1 && Date.now() - Number(d.split('-')[1]) < STALE_BUILD_MS) return;
    rmSync(join(CACHE, d), { recursive: true, force: true });
  });
  return join(outdir, 'main.js');
}

/**
 * The file URL of the bundled CLI entry, rebuilt first when a source changed; undefined when it cannot be built
 * (no esbuild, a read-only checkout, PEFTMAKE_NO_BUNDLE set): the caller then runs the sources through tsx.
 */
export async function cliBundle() {
  if (process.env.PEFTMAKE_NO_BUNDLE) return undefined;
  try {
    const cur = readCurrent();
    if (cur && isFresh(cur)) return pathToFileURL(join(CACHE, cur.dir, 'main.js')).href;
    mkdirSync(CACHE, { recursive: true });
    return pathToFileURL(await rebuild()).href;
  } catch (e) {
    if (process.env.PEFTMAKE_DEBUG) process.stderr.write(`peftmake: no CLI bundle (${e.message}); running the sources with tsx\n`);
    return undefined;
  }
}
