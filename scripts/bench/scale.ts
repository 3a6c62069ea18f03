import type { Bench } from './lib/types.ts';
export const scaleBench: Bench = { name: 'scale', title: 'Outbox at scale', run: async () => { throw new Error('not yet'); } };
