// The engine version the addon reports is the one stage keys use (src/engine/version.ts): a stale build of the addon
// or a forgotten bump on one side would otherwise key new numerics with an old version.
import { describe, expect, it } from 'vitest';
import { ENGINE_VERSION } from '../../src/engine/version.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { hasAddon } from './fixtures.ts';

describe.skipIf(!hasAddon)('engine version' + (hasAddon ? '' : ' (skipped: the native addon is not built)'), () => {
  it('the addon and src/engine/version.ts agree', () => {
    expect(nativeEngine().engineVersion()).toBe(ENGINE_VERSION);
  });
});
