#!/usr/bin/env node
// The statehub CLI runs its TypeScript sources through tsx: no build step, and the SQL in
// migrations/ and sql/ stays next to the code that applies it.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2), process.env);
