// The engine version from native/engine-version.json (its one definition): `node engine-version.mjs define` prints
// the gyp define PEFT_ENGINE_VERSION="x.y.z" that addon.cc reports as engineVersion(); plain, the version itself.
import { readFileSync } from 'node:fs';

const file = new URL('./engine-version.json', import.meta.url);
const { version } = JSON.parse(readFileSync(file, 'utf8'));
if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version)) {
  console.error(`native/engine-version.json: "version" must be a string like "1.2.3", got ${JSON.stringify(version)}`);
  process.exit(1);
}
console.log(process.argv[2] === 'define' ? `PEFT_ENGINE_VERSION="${version}"` : version);
