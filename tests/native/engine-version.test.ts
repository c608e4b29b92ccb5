// The engine version the addon reports is the one stage keys use: both come from native/engine-version.json (compiled
// in by binding.gyp, read by src/engine/version.ts), so they differ only when the addon is a stale build.
import { describe, expect, it } from 'vitest';
import { ENGINE_VERSION } from '../../src/engine/version.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { hasAddon } from './fixtures.ts';

describe.skipIf(!hasAddon)('engine version' + (hasAddon ? '' : ' (skipped: the native addon is not built)'), () => {
  it('the addon and src/engine/version.ts agree', () => {
    expect(nativeEngine().engineVersion()).toBe(ENGINE_VERSION);
  });
});
