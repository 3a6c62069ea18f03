import type { Bench } from './lib/types.ts';
export const latencyBench: Bench = { name: 'latency', title: 'Capture-to-ack latency', run: async () => { throw new Error('not yet'); } };
