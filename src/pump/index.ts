// The pump's public surface: what `statehub pump` and `statehub start` use.
export { startPump, PumpStartError, type PumpHandle, type PumpOptions } from './pump.ts';
export { StreamConfigError } from './stream.ts';
