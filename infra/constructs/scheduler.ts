import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct, type IConstruct } from 'constructs';
import type { z } from 'zod';
import type { Maintenance } from '#lib/schedule/messages.ts';
import type { ApiSettings, TaskRouteAccess } from './api.ts';
import type { Database } from './database.ts';
import type { Llm } from './llm.ts';
import {
  DEAD_LETTER_BATCH_SIZE,
  DEAD_LETTER_MAX_CONCURRENCY,
  DEAD_LETTER_WORKER_TIMEOUT,
  queueWorker,
  type WorkerConcurrency,
  workerEnvironment,
} from './queue-worker.ts';
import type { Queues } from './queues.ts';
import type { Storage } from './storage.ts';

/**
 * The dispatcher's timeout, Lambda's longest: an ingest run scrapes its pages and feeds inline
 * (each request with its own timeout). The task queue's visibility timeout is six times this.
 */
export const TASK_WORKER_TIMEOUT = Duration.minutes(15);

/** Messages per dispatcher invocation: one firing each, so a long scrape holds up no other task. */
export const TASK_BATCH_SIZE = 1;
/** Concurrent dispatcher invocations at most: task runs are bursts at round minutes, not a stream. */
export const TASK_MAX_CONCURRENCY = 5;

/** How often the maintenance sweep runs (lib/services/task-runs.ts handles `maintenance`). */
export const MAINTENANCE_SCHEDULE = 'rate(5 minutes)';

/** The maintenance schedule's target input. */
export const MAINTENANCE_INPUT = JSON.stringify({ kind: 'maintenance' } satisfies z.input<
  typeof Maintenance
>);

const SCHEDULER_SERVICE = 'scheduler.amazonaws.com';

/** Scheduler's longest schedule-group name. */
const MAX_GROUP_NAME_LENGTH = 64;

export interface SchedulerProps extends WorkerConcurrency {
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  database: Database;
  storage: Storage;
  queues: Queues;
  llm: Llm;
  logLevel?: ApiSettings['logLevel'];
}

/**
 * Recurring tasks on EventBridge Scheduler.
 *
 * - The stack's schedule group (named like the stack, TASK_SCHEDULE_GROUP): the task routes
 *   create one schedule per task in it (lib/ports/scheduler/eventbridge.ts), and the
 *   maintenance schedule lives there too.
 * - The Scheduler execution role, which every schedule of the group uses: it may send to the
 *   task queue and its dead-letter queue (where Scheduler puts firings it could not deliver)
 *   and nothing else, and only Scheduler may assume it, for this account's group.
 * - The maintenance schedule: every 5 minutes `{"kind":"maintenance"}` to the task queue.
 * - The dispatcher (functions/workers/tasks.ts) on the task queue (`<stack>-tasks`, in Queues):
 *   it runs firings (ingest scrapes out through the NAT gateway, classify creates jobs on the
 *   classify queue), maintenance sweeps (sends stuck work to the ingest, classify and task
 *   queues again) and may disable a failing task's schedule. Its dead-letter worker
 *   (functions/workers/tasks-dead-letters.ts) fails given-up runs, which may disable one too.
 *
 * Which functions may manage the group's schedules is decided here: the task routes
 * (grantManageSchedules, on their own role) create, update, delete and read them; the two
 * workers may update (disable) and read them, and the dispatcher delete one whose task is gone
 * (a workspace's deletion cascades to its tasks, not to their schedules) (grantUpdateSchedules).
 */
export class Scheduler extends Construct implements TaskRouteAccess {
  readonly group: scheduler.CfnScheduleGroup;
  readonly groupName: string;
  /** The role Scheduler assumes to deliver every schedule of the group. */
  readonly role: iam.Role;
  readonly maintenance: scheduler.CfnSchedule;
  readonly worker: NodejsFunction;
  readonly deadLetterWorker: NodejsFunction;
  private readonly queues: Queues;

  constructor(scope: Construct, id: string, props: SchedulerProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.queues = props.queues;
    this.groupName = stack.stackName;
    if (this.groupName.length > MAX_GROUP_NAME_LENGTH) {
      throw new Error(
        `Schedule group name ${this.groupName} is longer than Scheduler's ${MAX_GROUP_NAME_LENGTH} characters: use a shorter stack name`,
      );
    }
    this.group = new scheduler.CfnScheduleGroup(this, 'Group', { name: this.groupName });

    this.role = new iam.Role(this, 'Role', {
      description: 'docsift: EventBridge Scheduler delivering recurring-task firings to the task queue',
      assumedBy: new iam.ServicePrincipal(SCHEDULER_SERVICE, {
        // No confused deputy: only this account's schedules, in this group, may use it.
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': this.groupArn() },
        },
      }),
    });
    // Explicit rather than grantSendMessages, which adds GetQueueAttributes and GetQueueUrl.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['sqs:SendMessage'],
        resources: [props.queues.tasks.queueArn, props.queues.tasksDeadLetters.queueArn],
      }),
    );

    this.maintenance = new scheduler.CfnSchedule(this, 'Maintenance', {
      name: 'maintenance',
      // The group's Ref is its name: creates the group first.
      groupName: this.group.ref,
      description: 'docsift: sweep for work that stopped moving and send it again',
      scheduleExpression: MAINTENANCE_SCHEDULE,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: props.queues.tasks.queueArn,
        roleArn: this.role.roleArn,
        input: MAINTENANCE_INPUT,
        // A sweep older than the interval is superseded by the next one: retry within it only.
        retryPolicy: { maximumEventAgeInSeconds: 300, maximumRetryAttempts: 5 },
        deadLetterConfig: { arn: props.queues.tasksDeadLetters.queueArn },
      },
    });
    // Scheduler checks the role can send when the schedule is created.
    this.maintenance.node.addDependency(this.role);

    const common = { vpc: props.vpc, securityGroup: props.securityGroup, database: props.database };
    const environment = {
      ...workerEnvironment(props),
      // Provider settings for the jobs classify runs create; the key is read only by the
      // classify worker, which calls the providers (lib/ports/llm reads it on first call).
      ...props.llm.environment(),
      ...this.environment(),
      // Its own queue's, where the shared environment has the ingest queue's.
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(props.queues.tasksVisibilityTimeout.toSeconds()),
    };

    this.worker = queueWorker(this, 'Worker', {
      ...common,
      entry: 'functions/workers/tasks.ts',
      description: 'docsift: run recurring-task firings and maintenance sweeps',
      environment,
      timeout: TASK_WORKER_TIMEOUT,
      // Scraping and HTML parsing, as the ingest worker's URL lists; no PDFs.
      memorySize: 1024,
      queue: props.queues.tasks,
      batchSize: TASK_BATCH_SIZE,
      maxConcurrency: props.maxConcurrency ?? TASK_MAX_CONCURRENCY,
      reserveConcurrency: props.reserveConcurrency,
    });
    // Classify runs create jobs; maintenance sends stuck work again to every queue.
    for (const queue of [props.queues.ingest, props.queues.classify, props.queues.tasks]) {
      queue.grantSendMessages(this.worker);
    }
    this.grantUpdateSchedules(this.worker, ['scheduler:DeleteSchedule']);

    this.deadLetterWorker = queueWorker(this, 'DeadLetters', {
      ...common,
      entry: 'functions/workers/tasks-dead-letters.ts',
      description: 'docsift: fail the runs of given-up recurring-task firings',
      environment,
      timeout: DEAD_LETTER_WORKER_TIMEOUT,
      memorySize: 512,
      queue: props.queues.tasksDeadLetters,
      batchSize: DEAD_LETTER_BATCH_SIZE,
      maxConcurrency: DEAD_LETTER_MAX_CONCURRENCY,
      reserveConcurrency: props.reserveConcurrency,
    });
    // A failed run may be the one that pauses its task, which disables the schedule.
    this.grantUpdateSchedules(this.deadLetterWorker);
  }

  /** What the task routes and the workers read (lib/config.ts, lib/platform.ts). */
  environment(): Record<string, string> {
    return {
      TASK_QUEUE: this.queues.tasks.queueName,
      // The schedules' target; lib/platform.ts derives the dead-letter ARN as `<arn>-dlq`.
      TASK_QUEUE_ARN: this.queues.tasks.queueArn,
      TASK_SCHEDULE_GROUP: this.groupName,
      TASK_SCHEDULER_ROLE_ARN: this.role.roleArn,
    };
  }

  /**
   * The task routes' grants: create, update, delete and read the group's schedules, pass the
   * Scheduler role to them (and to nothing else), and send to the task queue (run now).
   */
  grantManageSchedules(role: iam.IRole & IConstruct): void {
    this.grantSchedules(role, [
      'scheduler:CreateSchedule',
      'scheduler:UpdateSchedule',
      'scheduler:DeleteSchedule',
      'scheduler:GetSchedule',
    ]);
    this.queues.tasks.grantSendMessages(role);
  }

  /** The workers' grants: update (disable) and read the group's schedules, passing the Scheduler role. */
  grantUpdateSchedules(fn: NodejsFunction, more: string[] = []): void {
    this.grantSchedules(fn, ['scheduler:UpdateSchedule', 'scheduler:GetSchedule', ...more]);
  }

  private grantSchedules(grantee: iam.IGrantable & IConstruct, actions: string[]): void {
    const schedules = this.scheduleArns();
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [schedules] }));
    // Creating or updating a schedule names its execution role: that is a PassRole of it.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': SCHEDULER_SERVICE } },
      }),
    );
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(schedules)}]`,
      reason:
        "Task schedules are created at run time, one per task (task-<id>), so their names are not known at deploy time; the wildcard covers the schedules of the stack's own group and nothing else.",
    });
  }

  /** Every schedule of the group: Scheduler's ARNs are `schedule/<group>/<name>`. */
  private scheduleArns(): string {
    return Stack.of(this).formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.groupName}/*`,
    });
  }

  private groupArn(): string {
    return Stack.of(this).formatArn({
      service: 'scheduler',
      resource: 'schedule-group',
      resourceName: this.groupName,
    });
  }
}

/** An ARN as cdk-nag spells it in a finding: pseudo parameters as `<AWS::Name>`. */
export function nagArn(arn: string): string {
  return arn.replace(/\$\{Token\[AWS\.(\w+)\.\d+\]\}/g, '<AWS::$1>');
}
