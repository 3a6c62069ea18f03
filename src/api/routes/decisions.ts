import { decisions } from '../../operations/decisions.ts';
import type { Api } from '../route.ts';

export function decisionRoutes(api: Api): void {
  const tag = 'decisions';
  api.operation({ method: 'post', path: '/decisions', access: 'write', tag, op: decisions.create, status: 201 });
  api.operation({
    method: 'get', path: '/decisions', access: 'read', tag, op: decisions.list,
    queryAliases: { topic_id: 'topic', workstream_id: 'workstream' },
  });
  api.operation({ method: 'get', path: '/decisions/:id', access: 'read', tag, op: decisions.get });
  api.operation({ method: 'patch', path: '/decisions/:id', access: 'write', tag, op: decisions.update, bodyField: 'changes' });
  api.operation({ method: 'post', path: '/decisions/:id/resolve', access: 'write', tag, op: decisions.resolve });
}
