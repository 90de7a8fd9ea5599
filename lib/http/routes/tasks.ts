import { route } from '../route.ts';
import { Paging } from '../schemas/common.ts';
import {
  TaskCreate,
  TaskParams,
  TaskPublic,
  TaskRunAccepted,
  TaskRunsPublic,
  TasksPublic,
  TasksQuery,
  TaskUpdate,
} from '../schemas/tasks.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { WS } from './paths.ts';

const TASKS = `${WS}/recurring_tasks`;
const tags = ['recurring tasks'];

/** Recurring ingest and classify tasks: one EventBridge Scheduler schedule each. */
export const tasks = {
  create: route({
    handler: 'tasks.create',
    method: 'POST',
    path: TASKS,
    auth: 'user',
    summary: 'Create a recurring task and its schedule',
    tags,
    params: WorkspaceIdParam,
    body: TaskCreate,
    response: { status: 201, schema: TaskPublic },
    errors: [404, 503],
  }),
  list: route({
    handler: 'tasks.list',
    method: 'GET',
    path: TASKS,
    auth: 'user',
    summary: 'List the workspace’s recurring tasks',
    tags,
    params: WorkspaceIdParam,
    query: TasksQuery,
    response: { status: 200, schema: TasksPublic },
    errors: [404],
  }),
  read: route({
    handler: 'tasks.read',
    method: 'GET',
    path: `${TASKS}/{task_id}`,
    auth: 'user',
    summary: 'Read a recurring task, with its last run and next firing',
    tags,
    params: TaskParams,
    response: { status: 200, schema: TaskPublic },
    errors: [404],
  }),
  update: route({
    handler: 'tasks.update',
    method: 'PATCH',
    path: `${TASKS}/{task_id}`,
    auth: 'user',
    summary: 'Change a task (and its schedule); status active resumes, paused disables the schedule',
    tags,
    params: TaskParams,
    body: TaskUpdate,
    response: { status: 200, schema: TaskPublic },
    errors: [404, 503],
  }),
  delete: route({
    handler: 'tasks.delete',
    method: 'DELETE',
    path: `${TASKS}/{task_id}`,
    auth: 'user',
    summary: 'Delete a task, its schedule and its run history',
    tags,
    params: TaskParams,
    response: { status: 204 },
    errors: [404, 503],
  }),
  run: route({
    handler: 'tasks.run',
    method: 'POST',
    path: `${TASKS}/{task_id}/run`,
    auth: 'user',
    summary: 'Run a task now, outside its schedule',
    tags,
    params: TaskParams,
    response: { status: 202, schema: TaskRunAccepted },
    errors: [404, 503],
  }),
  runs: route({
    handler: 'tasks.runs',
    method: 'GET',
    path: `${TASKS}/{task_id}/runs`,
    auth: 'user',
    summary: 'A task’s run history, newest first',
    tags,
    params: TaskParams,
    query: Paging,
    response: { status: 200, schema: TaskRunsPublic },
    errors: [404],
  }),
};
