import { topics } from '../../operations/topics.ts';
import type { Api } from '../route.ts';

export function topicRoutes(api: Api): void {
  const tag = 'topics';
  api.operation({ method: 'post', path: '/topics', access: 'write', tag, op: topics.create, status: 201 });
  api.operation({ method: 'get', path: '/topics', access: 'read', tag, op: topics.list });
  api.operation({ method: 'get', path: '/topics/:slug', access: 'read', tag, op: topics.get });
  api.operation({ method: 'patch', path: '/topics/:slug', access: 'write', tag, op: topics.update, bodyField: 'changes' });
}
