// Loads the built native addon for tests (native/build/Release/peft_engine.node); build it with `node native/build.mjs`.
import { createRequire } from 'node:module';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const addon: any = createRequire(import.meta.url)('../../native/build/Release/peft_engine.node');
