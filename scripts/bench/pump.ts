import type { Bench } from './lib/types.ts';
export const pumpBench: Bench = { name: 'pump', title: 'Pump throughput', run: async () => { throw new Error('not yet'); } };
