import { tasks } from '../../operations/tasks.ts';
import type { Api } from '../route.ts';

export function taskRoutes(api: Api): void {
  const tag = 'tasks';
  api.operation({ method: 'post', path: '/tasks', access: 'write', tag, op: tasks.create, status: 201 });
  api.operation({ method: 'get', path: '/tasks', access: 'read', tag, op: tasks.list, queryAliases: { workstream_id: 'workstream' } });
  api.operation({ method: 'get', path: '/tasks/:id', access: 'read', tag, op: tasks.get });
  api.operation({ method: 'patch', path: '/tasks/:id', access: 'write', tag, op: tasks.update, bodyField: 'changes' });
}
