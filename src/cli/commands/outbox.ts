// PLACEHOLDER until its issue lands: replaced by the real command.
export async function run(_args: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  process.stderr.write('statehub outbox: not built yet\n');
  return 1;
}
