// CronJob schedules: the five-field syntax and descriptors the CronJob controller accepts, cron's
// day-of-month/day-of-week OR, time zones, the next firing and the latest missed one.
import { describe, expect, it } from '@jest/globals';
import {
  matches,
  mostRecent,
  nextAfter,
  parseSchedule,
  type CronSchedule,
} from '../../devcluster/controllers/cron-schedule.js';
import { jobName } from '../../devcluster/controllers/cronjob.js';

const parsed = (text: string, tz?: string): CronSchedule => {
  const s = parseSchedule(text, tz);
  if ('error' in s) throw new Error(s.error);
  return s;
};
const at = (iso: string) => new Date(iso);

describe('parseSchedule', () => {
  it.each([
    ['*/15 * * * *', 'minutes', [0, 15, 30, 45]],
    ['5-10/2 * * * *', 'minutes', [5, 7, 9]],
    ['0 9-11,14 * * *', 'hours', [9, 10, 11, 14]],
    ['0 0 * jan,jun-jul *', 'months', [1, 6, 7]],
    ['0 0 * * mon-fri', 'weekdays', [1, 2, 3, 4, 5]],
    ['0 0 * * 7', 'weekdays', [0, 7]],
    ['@hourly', 'minutes', [0]],
    ['0 0 1/10 * *', 'days', [1, 11, 21, 31]],
  ] as const)('%s → %s %j', (text, f, want) => {
    expect([...parsed(text)[f]].sort((a, b) => a - b)).toEqual(want);
  });

  it.each([
    ['* * * *', /exactly 5 fields/],
    ['60 * * * *', /out of range/],
    ['* * * * 8', /out of range/],
    ['*/0 * * * *', /bad step/],
    ['5-1 * * * *', /empty range/],
    ['* * * foo *', /out of range/],
  ])('refuses %s', (text, why) => {
    const s = parseSchedule(text);
    expect('error' in s && s.error).toMatch(why);
  });

  it('refuses an unknown time zone', () => {
    expect(parseSchedule('* * * * *', 'Mars/Olympus')).toEqual({ error: 'unknown time zone Mars/Olympus' });
  });
});

describe('firing times', () => {
  it("both day fields restricted: either fires (cron's OR); one restricted: it alone decides", () => {
    const or = parsed('0 0 13 * fri');
    expect(matches(or, at('2026-02-13T00:00:00Z'))).toBe(true); // a Friday the 13th
    expect(matches(or, at('2026-02-20T00:00:00Z'))).toBe(true); // a Friday
    expect(matches(or, at('2026-03-13T00:00:00Z'))).toBe(true); // the 13th, a Friday too
    expect(matches(or, at('2026-03-14T00:00:00Z'))).toBe(false);
    const dowOnly = parsed('0 0 * * fri');
    expect(matches(dowOnly, at('2026-02-21T00:00:00Z'))).toBe(false);
  });

  it('nextAfter is strictly after, skipping whole days and hours', () => {
    expect(nextAfter(parsed('*/15 * * * *'), at('2026-01-01T10:15:00Z'))).toEqual(at('2026-01-01T10:30:00Z'));
    expect(nextAfter(parsed('30 4 1 * *'), at('2026-01-01T10:00:00Z'))).toEqual(at('2026-02-01T04:30:00Z'));
    expect(nextAfter(parsed('0 0 29 2 *'), at('2026-03-01T00:00:00Z'))).toBeUndefined(); // none within a year
  });

  it('in a time zone, the wall clock of that zone decides', () => {
    // 09:00 in New York is 14:00 UTC in winter
    expect(nextAfter(parsed('0 9 * * *', 'America/New_York'), at('2026-01-05T00:00:00Z'))).toEqual(
      at('2026-01-05T14:00:00Z'),
    );
  });

  it('mostRecent: the latest firing since the last one, and how many were missed', () => {
    const every5 = parsed('*/5 * * * *');
    expect(mostRecent(every5, at('2026-01-01T10:00:00Z'), at('2026-01-01T10:17:30Z'))).toEqual({
      time: at('2026-01-01T10:15:00Z'),
      missed: 3,
    });
    expect(mostRecent(every5, at('2026-01-01T10:15:00Z'), at('2026-01-01T10:19:59Z'))).toEqual({ missed: 0 });
    const long = mostRecent(parsed('* * * * *'), at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:30Z'));
    expect(long.time).toEqual(at('2026-01-02T00:00:00Z'));
    expect(long.missed).toBeGreaterThan(100);
  });

  it("a Job's name carries its scheduled minute", () => {
    expect(jobName('hello', at('2026-01-01T00:01:00Z'))).toBe(`hello-${Date.parse('2026-01-01T00:01:00Z') / 60_000}`);
  });
});
