// What every command definition shares: the environment type, the action wrapper's type, and
// the rule for command groups without a subcommand.
import type { Command } from 'commander';

export type Env = NodeJS.ProcessEnv;
/** Makes an action that runs a command body and keeps the exit code it resolves to. */
export type Runs = <A extends unknown[]>(body: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

/**
 * Without this, commander answers a bare group (`statehub outbox`) with the usage alone; with it
 * the user also reads why. Call it once the group's subcommands exist, or they inherit
 * allowExcessArguments; helpCommand(true) because a group with an action loses `help [command]`.
 */
export function requireSubcommand(group: Command, noun: string): Command {
  return group
    .helpCommand(true)
    .allowExcessArguments()
    .action((_options, cmd: Command) => {
      const [name] = cmd.args;
      cmd.error(name ? `unknown ${noun} "${name}"` : `a ${noun} is required`);
    });
}
