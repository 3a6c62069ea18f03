// Liveness and readiness, for load balancers and orchestrators.
import type { Db } from '../../db.ts';
import type { Api } from '../route.ts';
import { databaseProblem } from '../../operations/errors.ts';
import { HttpError } from '../errors.ts';

/** Why the API cannot serve from its database (unreachable, not migrated...), or undefined when it can. */
export async function databaseNotReady(db: Db): Promise<string | undefined> {
  try {
    // A table of the first migration and the function of the latest one the API calls.
    await db.query('SELECT 1 FROM statehub.domains, statehub.authenticate_token(NULL) LIMIT 0');
    return undefined;
  } catch (err) {
    return databaseProblem(err);
  }
}

export function healthRoutes(api: Api): void {
  const tag = 'service';
  api.add({ method: 'get', access: 'public', path: '/healthz', summary: 'The process is up (never touches the database)', tag, anyQuery: true }, async () => ({ status: 'ok' }));
  api.add(
    { method: 'get', access: 'public', path: '/readyz', summary: 'The database answers and is migrated; 503 with the reason otherwise', tag, anyQuery: true },
    async (_input, db) => {
      const problem = await databaseNotReady(db);
      if (problem) throw new HttpError(503, 'Service Unavailable', `not ready: ${problem}`);
      return { status: 'ready' };
    },
  );
}
