#!/usr/bin/env node
// Entry point of the `peftmake` binary: runs the CLI from its esbuild bundle (rebuilt when a source changed, see
// cli-bundle.js) for a fast start, else registers tsx so the TypeScript sources run without a compile step.
import { cliBundle } from './cli-bundle.js';

const bundled = await cliBundle();
if (bundled) {
  process.setSourceMapsEnabled(true); // an internal error's stack names src/*.ts lines, not bundle chunks
  await import(bundled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
