import { readModels } from '../../operations/read-models.ts';
import type { Api } from '../route.ts';

export function readModelRoutes(api: Api): void {
  const tag = 'read models';
  api.operation({
    method: 'get', path: '/next-steps', access: 'read', tag, op: readModels.nextSteps,
    removedQuery: { offset: 'page with cursor, passing back the next_cursor of the previous page' },
  });
  api.operation({ method: 'get', path: '/domains/:slug/overview', access: 'read', tag, op: readModels.domainOverview });
}
