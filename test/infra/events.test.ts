import { describe, expect, it } from 'vitest';
import { buildStack, inspect } from './stack.ts';

// The lifecycle-event bus: named like the stack, put to by the task worker (the outbox
// dispatcher) only, on this bus only; the functions that record events may nudge it.
const { stack, flat } = buildStack({ emailsFrom: 'noreply@example.com' });
const { resources, ofType, statementsOf, grantsOf } = inspect(flat);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const busId = idOf(stack.events.bus);
const taskQueueArn = { 'Fn::GetAtt': [idOf(stack.queues.tasks), 'Arn'] };

describe('the lifecycle event bus', () => {
  it('is the stack’s own bus, named like the stack', () => {
    expect(ofType('AWS::Events::EventBus')).toHaveLength(1);
    expect(resources[busId]?.Properties.Name).toBe('Docsift');
  });

  it('is named to the task worker, which alone may put events, on that bus only', () => {
    const worker = resources[idOf(stack.scheduler.worker)]!;
    expect(worker.Properties.Environment.Variables.EVENT_BUS_NAME).toEqual({ Ref: busId });
    expect(grantsOf(worker, 'events:PutEvents').flatMap((s) => [s.Resource].flat())).toEqual([
      { 'Fn::GetAtt': [busId, 'Arn'] },
    ]);
    const putters = ofType('AWS::Lambda::Function').filter(([, fn]) =>
      statementsOf(fn).some((s) => [s.Action].flat().some((a) => a.startsWith('events:'))),
    );
    expect(putters.map(([id]) => id)).toEqual([idOf(stack.scheduler.worker)]);
  });

  it('lets the workers and the routes that record events nudge the dispatcher on the task queue', () => {
    const route = stack.api.functions.values().next().value!;
    for (const fn of [stack.ingest.worker, stack.classify.worker, stack.ingest.deadLetterWorker, route]) {
      const sends = grantsOf(resources[idOf(fn)]!, 'sqs:SendMessage').flatMap((s) => [s.Resource].flat());
      expect(sends).toContainEqual(taskQueueArn);
    }
  });
});
