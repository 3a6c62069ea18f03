import { domainGoals } from '../../operations/domain-goals.ts';
import type { Api } from '../route.ts';

export function domainGoalRoutes(api: Api): void {
  const tag = 'domain goals';
  api.operation({ method: 'post', path: '/domain-goals', access: 'write', tag, op: domainGoals.create, status: 201 });
  api.operation({ method: 'get', path: '/domain-goals', access: 'read', tag, op: domainGoals.list });
  api.operation({ method: 'get', path: '/domain-goals/:id', access: 'read', tag, op: domainGoals.get });
  api.operation({ method: 'patch', path: '/domain-goals/:id', access: 'write', tag, op: domainGoals.update, bodyField: 'changes' });
  api.operation({ method: 'post', path: '/domain-goals/:id/activate', access: 'write', tag, op: domainGoals.activate });
}
