#!/usr/bin/env node
// The statehub CLI runs its TypeScript sources through tsx: no build step, and the SQL in
// migrations/ and sql/ stays next to the code that applies it.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
