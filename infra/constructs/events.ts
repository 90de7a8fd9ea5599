import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { Queues } from './queues.ts';

/**
 * Lifecycle events out (lib/events): the stack's EventBridge bus, named like the stack, where
 * the task worker's outbox dispatcher puts every event (source `docsift`, detail type the
 * event's type) for teams to route with their own rules. Only the dispatcher may put events,
 * on this bus only; the functions that record events only nudge it through the task queue.
 */
export class LifecycleEvents extends Construct {
  readonly bus: events.EventBus;
  private readonly queues: Queues;

  constructor(scope: Construct, id: string, props: { queues: Queues }) {
    super(scope, id);
    this.queues = props.queues;
    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: Stack.of(this).stackName,
      description: 'docsift lifecycle events: datasources, jobs, task runs, imports (see docs/events.md)',
    });
  }

  /** The dispatcher: EVENT_BUS_NAME, and events:PutEvents on the bus (nothing else). */
  grantPublish(fn: NodejsFunction): void {
    fn.addEnvironment('EVENT_BUS_NAME', this.bus.eventBusName);
    this.bus.grantPutEventsTo(fn);
  }

  /**
   * Functions whose changes record events: they send the dispatcher its `publish_events` nudge.
   * The route functions are among them. Sending to the task queue lets a sender also fire a
   * task run early, but every message there is checked against the database (a firing against
   * its task, a delivery against its hook and event), and a route function's database
   * credentials already reach far more; without it a route's events waited for the sweep.
   */
  grantNudge(grantees: iam.IGrantable[]): void {
    for (const grantee of grantees) this.queues.tasks.grantSendMessages(grantee);
  }
}
