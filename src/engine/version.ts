// The engine version that joins every stage key: bump it when the engine's numerics or formats change.
export const ENGINE_VERSION = '0.1.0';
