import { workstreams } from '../../operations/workstreams.ts';
import type { Api } from '../route.ts';

export function workstreamRoutes(api: Api): void {
  const tag = 'workstreams';
  api.operation({ method: 'post', path: '/workstreams', access: 'write', tag, op: workstreams.create, status: 201 });
  api.operation({ method: 'get', path: '/workstreams', access: 'read', tag, op: workstreams.list });
  api.operation({ method: 'get', path: '/workstreams/:id', access: 'read', tag, op: workstreams.get });
  api.operation({ method: 'patch', path: '/workstreams/:id', access: 'write', tag, op: workstreams.update, bodyField: 'changes' });
}
