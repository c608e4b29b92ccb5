// Loads the built native addon for tests: native/build/Release/peft_engine.node (build it with `node native/build.mjs`),
// or the file PEFT_ADDON names (e.g. a sanitizer build made elsewhere).
import { createRequire } from 'node:module';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const addon: any = createRequire(import.meta.url)(process.env.PEFT_ADDON ?? '../../native/build/Release/peft_engine.node');
