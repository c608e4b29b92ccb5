// Loads the built native addons for tests (build them with `node native/build.mjs`): `addon` is the production
// engine (native/build/Release/peft_engine.node, or the file PEFT_ADDON names, e.g. a sanitizer build made elsewhere);
// `testAddon` the test addon with the raw kernels and fused ops (peft_engine_test.node, or PEFT_TEST_ADDON).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const addon: any = require(process.env.PEFT_ADDON ?? '../../native/build/Release/peft_engine.node');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const testAddon: any = require(process.env.PEFT_TEST_ADDON ?? '../../native/build/Release/peft_engine_test.node');
