// statehub token create --name N --scope read|write [--expires 90d] | list [--json] | revoke NAME
// src/cli/main.ts checks the arguments; these run them against DATABASE_URL, which must be a
// role that may write statehub.api_tokens (the migrating role; the API's role may not).
import { withDatabase, type ToolContext } from '../tools/common.ts';
import { TOKEN_CACHE_MS } from '../../api/auth.ts';
import { createToken, listTokens, revokeToken, stateOf, TokenError, type Scope, type TokenInfo, type TokenState } from '../../tokens.ts';

/** Runs a token command; a TokenError is the one line to print, exit 1. */
async function tokenCommand(name: string, env: NodeJS.ProcessEnv, body: (ctx: ToolContext) => Promise<void>): Promise<number> {
  try {
    await withDatabase(env, `token ${name}`, body);
    return 0;
  } catch (err) {
    const refused = (err as { code?: string }).code === '42501';
    if (!(err instanceof TokenError) && !refused) throw err;
    const why = refused ? 'this DATABASE_URL\'s role may not manage tokens; use the migrating role (docs/roles.md)' : (err as Error).message;
    process.stderr.write(`statehub token ${name}: ${why}\n`);
    return 1;
  }
}

const when = (d: Date | null, none: string) => (d ? d.toISOString() : none);

/** Prints the secret alone on stdout, so `TOKEN=$(statehub token create ...)` keeps just it. */
export function create(options: { name: string; scope: Scope; expires?: number }, env: NodeJS.ProcessEnv): Promise<number> {
  return tokenCommand('create', env, async ({ db }) => {
    const { secret, token } = await createToken(db, { name: options.name, scope: options.scope, expiresInMs: options.expires });
    process.stdout.write(`${secret}\n`);
    process.stderr.write(
      `created token ${token.name}, scope ${token.scope}, ${token.expires_at ? `expires ${token.expires_at.toISOString()}` : 'never expires'}.\n` +
        'The secret above is shown only now; the hub keeps only its hash. Send it as: Authorization: Bearer <secret>\n',
    );
  });
}

type Listed = TokenInfo & { state: TokenState };

function table(tokens: Listed[]): string {
  const rows = [
    ['NAME', 'SCOPE', 'STATE', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST USED'],
    ...tokens.map((t) => [
      t.name,
      t.scope,
      t.state,
      t.created_at.toISOString(),
      when(t.expires_at, 'never'),
      when(t.revoked_at, '-'),
      when(t.last_used_at, 'never'),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** Never prints a secret: the hub has none to print. */
export function list({ json }: { json: boolean }, env: NodeJS.ProcessEnv): Promise<number> {
  return tokenCommand('list', env, async ({ db }) => {
    const now = new Date();
    const tokens = (await listTokens(db)).map((t) => ({ ...t, state: stateOf({ expires_at: t.expires_at, revoked: t.revoked_at !== null }, now) }));
    if (json) process.stdout.write(`${JSON.stringify(tokens)}\n`);
    else process.stdout.write(tokens.length ? table(tokens) : 'no tokens (statehub token create makes one)\n');
  });
}

export function revoke({ name }: { name: string }, env: NodeJS.ProcessEnv): Promise<number> {
  return tokenCommand('revoke', env, async ({ db }) => {
    const { revokedAt, already } = await revokeToken(db, name);
    process.stdout.write(
      already
        ? `token ${name} was already revoked at ${revokedAt.toISOString()}\n`
        : `revoked token ${name}; a running API refuses it within ${TOKEN_CACHE_MS / 1000} s\n`,
    );
  });
}
