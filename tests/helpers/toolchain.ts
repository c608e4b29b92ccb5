// The toolchain tests hand the core (stage kinds + engine version): the CLI's own, so tests build what the CLI builds.
export { TOOLCHAIN } from '../../src/cli/toolchain.ts';
