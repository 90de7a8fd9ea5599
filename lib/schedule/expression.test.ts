import { describe, expect, it } from 'vitest';
import { fireTimesBetween, isTimezone, nextFireTime, parseSchedule } from './expression.ts';

const ok = (input: string, timezone = 'UTC', min = 5) => {
  const result = parseSchedule(input, timezone, min);
  if (!result.ok) throw new Error(`expected ${input} to parse: ${result.error}`);
  return result.schedule.expression;
};
const error = (input: string, timezone = 'UTC', min = 5) => {
  const result = parseSchedule(input, timezone, min);
  if (result.ok) throw new Error(`expected ${input} to be refused, got ${result.schedule.expression}`);
  return result.error;
};

describe('parseSchedule: 5-field cron to EventBridge', () => {
  it.each([
    ['0 * * * *', 'cron(0 * * * ? *)'],
    ['*/15 * * * *', 'cron(0/15 * * * ? *)'],
    ['30 8 * * 1-5', 'cron(30 8 ? * MON,TUE,WED,THU,FRI *)'],
    ['30 8 * * MON-FRI', 'cron(30 8 ? * MON,TUE,WED,THU,FRI *)'],
    ['0 9 * * 0', 'cron(0 9 ? * SUN *)'],
    ['0 9 * * 7', 'cron(0 9 ? * SUN *)'],
    ['0 9 * * 5-7', 'cron(0 9 ? * SUN,FRI,SAT *)'],
    ['0 9 * * FRI-SUN', 'cron(0 9 ? * SUN,FRI,SAT *)'],
    ['0 9 * * */2', 'cron(0 9 ? * SUN,TUE,THU,SAT *)'],
    ['0 9 * * 1,3,5', 'cron(0 9 ? * MON,WED,FRI *)'],
    ['0 0 1 * *', 'cron(0 0 1 * ? *)'],
    ['0 0 */2 * *', 'cron(0 0 1/2 * ? *)'],
    ['0 0 1 JAN,JUL *', 'cron(0 0 1 JAN,JUL ? *)'],
    ['0 0 L * *', 'cron(0 0 L * ? *)'],
    ['5,35 8-18 * * *', 'cron(5,35 8-18 * * ? *)'],
    ['@daily', 'cron(0 0 * * ? *)'],
    ['@hourly', 'cron(0 * * * ? *)'],
    ['  0   6  *  *  * ', 'cron(0 6 * * ? *)'],
  ])('%s → %s', (input, expected) => {
    expect(ok(input)).toBe(expected);
  });
});

describe('parseSchedule: EventBridge forms', () => {
  it.each([
    ['rate(5 minutes)', 'rate(5 minutes)'],
    ['rate(1 hour)', 'rate(1 hour)'],
    ['rate(1 hours)', 'rate(1 hour)'],
    ['rate(2 day)', 'rate(2 days)'],
    ['RATE(10 Minutes)', 'rate(10 minutes)'],
    ['cron(0 12 * * ? *)', 'cron(0 12 * * ? *)'],
    ['cron(0 8 ? * MON-FRI *)', 'cron(0 8 ? * MON-FRI *)'],
    ['cron(0 8 ? * 2-6 *)', 'cron(0 8 ? * 2-6 *)'],
    ['cron(15 10 ? * 6L 2027)', 'cron(15 10 ? * 6L 2027)'],
    ['cron(0 9 ? * 2#1 *)', 'cron(0 9 ? * 2#1 *)'],
  ])('%s → %s', (input, expected) => {
    expect(ok(input)).toBe(expected);
  });
});

describe('parseSchedule: refusals say what is wrong', () => {
  it.each([
    ['* * * * *', /every 1 minute.*minimum interval is 5/],
    ['*/2 * * * *', /every 2 minute/],
    ['rate(1 minute)', /every 1 minute/],
    ['rate(0 minutes)', /positive/],
    ['rate(5 weeks)', /rate\(…\) takes/],
    ['0 0 * * * *', /6-field cron \(with seconds\)/],
    ['0 0 1 * 1', /both day-of-month and day-of-week/],
    ['cron(0 12 * * * *)', /exactly one of day-of-month and day-of-week must be \?/],
    ['cron(0 12 ? * ? *)', /exactly one/],
    ['cron(0 12 * *)', /takes 6 fields/],
    ['61 * * * *', /Not a valid cron/],
    ['0 25 * * *', /Not a valid cron/],
    ['0 0 * * 8', /Day-of-week "8"/],
    ['0 0 * * 5-2', /runs backwards/],
    ['every day', /Not a schedule/],
    ['', /Not a schedule/],
    ['0 0 31 2 *', /never fires/],
  ])('%s', (input, message) => {
    expect(error(input)).toMatch(message);
  });

  it('honours the configured minimum interval', () => {
    expect(ok('* * * * *', 'UTC', 1)).toBe('cron(* * * * ? *)');
    expect(error('rate(30 minutes)', 'UTC', 60)).toMatch(/minimum interval is 60/);
  });

  it.each([['Mars/Olympus'], ['+01:00'], ['Europe/Berlin; DROP'], ['']])('refuses the time zone %j', (tz) => {
    expect(error('0 9 * * *', tz)).toMatch(/time zone/);
  });

  it('knows IANA zones and UTC', () => {
    expect(isTimezone('UTC')).toBe(true);
    expect(isTimezone('America/Argentina/Buenos_Aires')).toBe(true);
    expect(isTimezone('Etc/GMT+5')).toBe(true);
  });
});

describe('nextFireTime', () => {
  const anchor = new Date('2026-12-01T00:00:00Z');

  it('evaluates cron in the schedule’s time zone', () => {
    const schedule = { expression: ok('30 8 * * 1-5', 'Europe/Berlin'), timezone: 'Europe/Berlin' };
    // Wednesday 2 December 2026, 08:30 in Berlin is 07:30 UTC.
    expect(nextFireTime(schedule, new Date('2026-12-02T06:00:00Z'), anchor)?.toISOString()).toBe(
      '2026-12-02T07:30:00.000Z',
    );
    // Friday after 08:30 → Monday.
    expect(nextFireTime(schedule, new Date('2026-12-04T08:00:00Z'), anchor)?.toISOString()).toBe(
      '2026-12-07T07:30:00.000Z',
    );
  });

  it('counts weekdays as EventBridge does (SUN = 1)', () => {
    const schedule = { expression: 'cron(0 12 ? * 1 *)', timezone: 'UTC' };
    const next = nextFireTime(schedule, new Date('2026-12-02T00:00:00Z'), anchor)!;
    expect(next.getUTCDay()).toBe(0);
  });

  it('counts a rate from its anchor', () => {
    const schedule = { expression: 'rate(15 minutes)', timezone: 'UTC' };
    expect(nextFireTime(schedule, new Date('2026-12-01T00:20:00Z'), anchor)?.toISOString()).toBe(
      '2026-12-01T00:30:00.000Z',
    );
    expect(nextFireTime(schedule, new Date('2026-11-30T00:00:00Z'), anchor)?.toISOString()).toBe(
      '2026-12-01T00:15:00.000Z',
    );
  });

  it('lists the fire times missed in a window, oldest first', () => {
    const schedule = { expression: ok('0 * * * *'), timezone: 'UTC' };
    const missed = fireTimesBetween(
      schedule,
      new Date('2026-12-02T05:30:00Z'),
      new Date('2026-12-02T08:00:00Z'),
      anchor,
    );
    expect(missed.map((d) => d.toISOString())).toEqual([
      '2026-12-02T06:00:00.000Z',
      '2026-12-02T07:00:00.000Z',
      '2026-12-02T08:00:00.000Z',
    ]);
  });
});
