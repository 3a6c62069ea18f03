import { repos } from '../../operations/repos.ts';
import { workplans } from '../../operations/workplans.ts';
import type { Api } from '../route.ts';

export function repoRoutes(api: Api): void {
  const tag = 'repos';
  api.operation({ method: 'post', path: '/repos', access: 'write', tag, op: repos.create, status: 201 });
  api.operation({ method: 'get', path: '/repos', access: 'read', tag, op: repos.list });
  api.operation({ method: 'get', path: '/repos/:slug', access: 'read', tag, op: repos.get });
  api.operation({ method: 'patch', path: '/repos/:slug', access: 'write', tag, op: repos.update, bodyField: 'changes' });
  // The consistency engine (docs/workplans.md).
  api.operation({ method: 'post', path: '/repos/:slug/sync', access: 'write', tag, op: workplans.sync });
  api.operation({ method: 'get', path: '/repos/:slug/drift', access: 'read', tag, op: workplans.drift });
}
