import { domains } from '../../operations/domains.ts';
import type { Api } from '../route.ts';

export function domainRoutes(api: Api): void {
  const tag = 'domains';
  api.operation({ method: 'post', path: '/domains', access: 'write', tag, op: domains.create, status: 201 });
  api.operation({ method: 'get', path: '/domains', access: 'read', tag, op: domains.list });
  api.operation({ method: 'get', path: '/domains/:slug', access: 'read', tag, op: domains.get });
  api.operation({ method: 'patch', path: '/domains/:slug', access: 'write', tag, op: domains.update, bodyField: 'changes' });
}
