import { repoGoals } from '../../operations/repo-goals.ts';
import type { Api } from '../route.ts';

export function repoGoalRoutes(api: Api): void {
  const tag = 'repo goals';
  api.operation({ method: 'post', path: '/repo-goals', access: 'write', tag, op: repoGoals.create, status: 201 });
  api.operation({ method: 'get', path: '/repo-goals', access: 'read', tag, op: repoGoals.list });
  api.operation({ method: 'get', path: '/repo-goals/:id', access: 'read', tag, op: repoGoals.get });
  api.operation({ method: 'patch', path: '/repo-goals/:id', access: 'write', tag, op: repoGoals.update, bodyField: 'changes' });
}
