// Liveness and readiness, for load balancers and orchestrators.
import type { Api } from '../route.ts';
import { databaseProblem, HttpError } from '../errors.ts';

export function healthRoutes(api: Api): void {
  const tag = 'service';
  api.add({ method: 'get', path: '/healthz', summary: 'The process is up (never touches the database)', tag, anyQuery: true }, async () => ({ status: 'ok' }));
  api.add(
    { method: 'get', path: '/readyz', summary: 'The database answers and is migrated; 503 with the reason otherwise', tag, anyQuery: true },
    async (_input, db) => {
      let migrated: boolean;
      try {
        const { rows } = await db.query<{ migrated: boolean }>(`SELECT to_regclass('statehub.domains') IS NOT NULL AS migrated`);
        migrated = rows[0]!.migrated;
      } catch (err) {
        throw new HttpError(503, 'Service Unavailable', `not ready: ${databaseProblem(err)}`);
      }
      if (!migrated) throw new HttpError(503, 'Service Unavailable', 'not ready: the database is not migrated (run statehub migrate)');
      return { status: 'ready' };
    },
  );
}
