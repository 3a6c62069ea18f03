// The machine a run measured on, recorded with every result: figures only compare within a run.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import pg from 'pg';
import { ADMIN_URL } from './env.ts';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  loadAverage: number[];
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  natsServer: string;
  pgbench: string;
  kernel: string;
}

function tryExec(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unavailable';
  }
}

export async function describeMachine(pgbench: string | undefined): Promise<Machine> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  let postgres = 'unknown';
  const postgresSettings: Record<string, string> = {};
  try {
    postgres = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
        WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size', 'max_connections')`,
    );
    for (const r of rows) postgresSettings[r.name] = r.unit ? `${r.setting} (${r.unit})` : r.setting;
  } finally {
    await client.end();
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    postgres,
    postgresSettings,
    natsServer: tryExec('nats-server', ['--version']),
    pgbench: pgbench ? tryExec(pgbench, ['--version']) : 'not used',
    kernel: os.release(),
  };
}
