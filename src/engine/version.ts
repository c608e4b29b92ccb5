// The engine version that joins every stage key, read from native/engine-version.json: the one definition, which
// the native build also compiles into the addon (engineVersion()). Bump it there when the numerics or formats change.
import { readFileSync } from 'node:fs';

const FILE = new URL('../../native/engine-version.json', import.meta.url);

function readEngineVersion(): string {
  const { version } = JSON.parse(readFileSync(FILE, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(`${FILE.pathname}: "version" must be a string like "1.2.3", got ${JSON.stringify(version)}`);
  return version;
}

export const ENGINE_VERSION = readEngineVersion();
