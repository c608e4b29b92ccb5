// The engine version that joins every stage key: bump it when the engine's numerics or formats change.
export const ENGINE_VERSION = '0.2.0'; // 0.2.0: bf16 training keeps LoRA products, q/k/v/attention/gate/up activations in bf16
