// A winston logger whose JSON lines a test can read.
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/logger.ts';

export function capturingLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) });
  const log = winston.createLogger({ level, format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { log, lines };
}
