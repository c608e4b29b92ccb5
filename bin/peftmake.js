#!/usr/bin/env node
// Entry point of the `peftmake` binary: registers tsx so the TypeScript sources run without a compile step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
