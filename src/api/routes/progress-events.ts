import { progressEvents } from '../../operations/progress-events.ts';
import type { Api } from '../route.ts';

export function progressEventRoutes(api: Api): void {
  const tag = 'progress events';
  api.operation({ method: 'post', path: '/progress-events', access: 'write', tag, op: progressEvents.create, status: 201 });
  api.operation({
    method: 'get', path: '/progress-events', access: 'read', tag, op: progressEvents.list,
    queryAliases: { workstream_id: 'workstream', task_id: 'task' },
  });
  api.operation({ method: 'get', path: '/progress-events/:id', access: 'read', tag, op: progressEvents.get });
}
