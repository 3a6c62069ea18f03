import type { Bench } from './lib/types.ts';
export const recoveryBench: Bench = { name: 'recovery', title: 'Recovery', run: async () => { throw new Error('not yet'); } };
