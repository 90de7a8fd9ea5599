import { Cron } from 'croner';

/**
 * A recurring task's schedule as EventBridge Scheduler takes it: `rate(…)` or a 6-field
 * `cron(minutes hours day-of-month month day-of-week year)`, and an IANA time zone.
 */
export type Schedule = { expression: string; timezone: string };

export type ScheduleResult = { ok: true; schedule: Schedule } | { ok: false; error: string };

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const RATE_UNITS: Record<string, number> = { minute: 1, hour: 60, day: 1440 };
const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Whether `timezone` is an IANA zone name the runtime knows (offsets like `+01:00` are not). */
export function isTimezone(timezone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(timezone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads what a user wrote as a schedule: a standard 5-field cron (what the reference system's
 * clients send, and `@daily`-style nicknames), or EventBridge's own `rate(…)` and `cron(…)`.
 * The 5-field form becomes EventBridge's 6-field cron: weekdays as names (cron counts Sunday
 * as 0, EventBridge as 1), and `?` in whichever day field the expression leaves open. A schedule
 * firing more often than every `minIntervalMinutes` is refused, so that a typo cannot burn an
 * LLM budget.
 *
 * @example parseSchedule('30 8 * * 1-5', 'Europe/Berlin', 5)
 * // → { ok: true, schedule: { expression: 'cron(30 8 ? * MON,TUE,WED,THU,FRI *)', timezone: 'Europe/Berlin' } }
 */
export function parseSchedule(input: string, timezone: string, minIntervalMinutes: number): ScheduleResult {
  if (!isTimezone(timezone))
    return fail(`Unknown time zone "${timezone}": use an IANA name such as Europe/Berlin`);
  const text = input.trim().replace(/\s+/g, ' ');
  let expression: string;
  try {
    expression = toEventBridge(text);
  } catch (error) {
    return fail((error as Error).message);
  }
  const schedule = { expression, timezone };
  const gap = shortestIntervalMinutes(schedule);
  if (gap === undefined) return fail('The schedule never fires');
  if (gap < minIntervalMinutes) {
    return fail(
      `The schedule fires every ${gap} minute(s); the minimum interval is ${minIntervalMinutes} minutes`,
    );
  }
  return { ok: true, schedule };
}

function fail(error: string): ScheduleResult {
  return { ok: false, error };
}

function toEventBridge(text: string): string {
  const rate = /^rate\((.*)\)$/i.exec(text);
  if (rate) return `rate(${normalizeRate(rate[1]!.trim())})`;
  const cron = /^cron\((.*)\)$/i.exec(text);
  if (cron) {
    const fields = cron[1]!.trim().split(' ');
    if (fields.length !== 6) {
      throw new Error('cron(…) takes 6 fields: minutes hours day-of-month month day-of-week year');
    }
    checkQuestionMarks(fields);
    compile(fields);
    return `cron(${fields.join(' ')})`;
  }
  const fields = (NICKNAMES[text.toLowerCase()] ?? text).split(' ');
  if (fields.length === 6) {
    throw new Error(
      'A 6-field cron (with seconds) is not supported: use 5 fields (minute hour day-of-month month day-of-week) or EventBridge’s cron(…) form',
    );
  }
  if (fields.length !== 5) {
    throw new Error('Not a schedule: use a 5-field cron, rate(…) or cron(…)');
  }
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string];
  // Both day fields set means "either" in cron; EventBridge cannot say that.
  if (dom !== '*' && dow !== '*') {
    throw new Error(
      'A cron with both day-of-month and day-of-week set fires on either; EventBridge cannot express that: set one of them to *',
    );
  }
  const eventBridge = [
    slashFromZero(minute),
    slashFromZero(hour),
    dow === '*' ? slashFromOne(dom) : '?',
    slashFromOne(month),
    dow === '*' ? '?' : weekdayNames(dow),
    '*',
  ];
  compile(eventBridge);
  return `cron(${eventBridge.join(' ')})`;
}

function normalizeRate(body: string): string {
  const match = /^(\d+) (minute|minutes|hour|hours|day|days)$/i.exec(body);
  if (!match) throw new Error('rate(…) takes "<number> minutes|hours|days", e.g. rate(15 minutes)');
  const value = Number(match[1]);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error('rate(…) needs a positive whole number');
  const unit = match[2]!.toLowerCase().replace(/s$/, '');
  return `${value} ${unit}${value === 1 ? '' : 's'}`;
}

function checkQuestionMarks(fields: string[]): void {
  const [dom, dow] = [fields[2], fields[4]];
  if ((dom === '?') === (dow === '?')) {
    throw new Error('In cron(…), exactly one of day-of-month and day-of-week must be ?');
  }
}

// EventBridge writes steps from a start value (0/15); cron's */15 means the same.
function slashFromZero(field: string): string {
  return field.replace(/^\*\//, '0/');
}
function slashFromOne(field: string): string {
  return field.replace(/^\*\//, '1/');
}

/** Cron's day-of-week (0-7, Sunday 0 or 7, names, ranges, steps, lists) as a list of names. */
function weekdayNames(field: string): string {
  // A range may end at 7 or SUN meaning the Sunday after Saturday (5-7: Friday to Sunday).
  const day = (token: string, rangeEnd: boolean): number => {
    const name = DAY_NAMES.indexOf(token.toUpperCase() as (typeof DAY_NAMES)[number]);
    if (name === 0 && rangeEnd) return 7;
    if (name >= 0) return name;
    if (!/^\d$/.test(token) || Number(token) > 7) {
      throw new Error(
        `Day-of-week "${token}" is not 0-7 or SUN-SAT (for L or #, use EventBridge’s cron(…) form)`,
      );
    }
    return Number(token);
  };
  const days = new Set<number>();
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`Day-of-week step "${part}" is not valid`);
    const [a, b] = range.split('-') as [string, string | undefined];
    const from = range === '*' ? 0 : day(a, false) % 7;
    const to = range === '*' ? 6 : b !== undefined ? day(b, true) : stepText === undefined ? from : 6;
    if (to < from) throw new Error(`Day-of-week range "${part}" runs backwards`);
    for (let d = from; d <= to; d += step) days.add(d % 7);
  }
  return [...days]
    .sort((x, y) => x - y)
    .map((d) => DAY_NAMES[d])
    .join(',');
}

/** EventBridge's cron fields as a croner pattern: seconds first, Sunday = 1 as EventBridge counts. */
function compile(fields: string[], timezone?: string): Cron {
  try {
    return new Cron(`0 ${fields.join(' ')}`, {
      mode: '7-part',
      alternativeWeekdays: true,
      sloppyRanges: true,
      paused: true,
      ...(timezone && { timezone }),
    });
  } catch (error) {
    throw new Error(`Not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}`);
  }
}

/**
 * The first time `schedule` fires after `after`. A rate counts from `anchor` (when the schedule
 * was created or last changed), as Scheduler does.
 */
export function nextFireTime(schedule: Schedule, after: Date, anchor: Date): Date | undefined {
  const rate = rateMinutes(schedule.expression);
  if (rate !== undefined) {
    const period = rate * 60_000;
    const elapsed = after.getTime() - anchor.getTime();
    const periods = elapsed < 0 ? 1 : Math.floor(elapsed / period) + 1;
    return new Date(anchor.getTime() + periods * period);
  }
  const fields = cronFields(schedule.expression);
  return compile(fields, schedule.timezone).nextRun(after) ?? undefined;
}

/** The fire times in (`after`, `until`], oldest first, at most `limit`. */
export function fireTimesBetween(
  schedule: Schedule,
  after: Date,
  until: Date,
  anchor: Date,
  limit = 100,
): Date[] {
  const times: Date[] = [];
  let cursor = after;
  while (times.length < limit) {
    const next = nextFireTime(schedule, cursor, anchor);
    if (!next || next > until) break;
    times.push(next);
    cursor = next;
  }
  return times;
}

function rateMinutes(expression: string): number | undefined {
  const match = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  return match ? Number(match[1]) * RATE_UNITS[match[2]!]! : undefined;
}

function cronFields(expression: string): string[] {
  return expression.slice('cron('.length, -1).split(' ');
}

/** The shortest gap between two firings, in minutes, over the next two hundred. */
function shortestIntervalMinutes(schedule: Schedule): number | undefined {
  const rate = rateMinutes(schedule.expression);
  if (rate !== undefined) return rate;
  const runs = compile(cronFields(schedule.expression), schedule.timezone).nextRuns(200);
  if (runs.length === 0) return undefined;
  if (runs.length === 1) return Number.POSITIVE_INFINITY;
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < runs.length; i++) {
    shortest = Math.min(shortest, (runs[i]!.getTime() - runs[i - 1]!.getTime()) / 60_000);
  }
  return shortest;
}
