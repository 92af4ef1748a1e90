// A CronJob's schedule: the standard five cron fields (minute hour day-of-month month
// day-of-week) with `*`, `*/n`, `a-b`, `a-b/n`, lists and month/day names, and the descriptors
// `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`, as the CronJob
// controller parses them (https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax).
// As in cron, when both day fields are restricted a day matching either one fires.
// Times are whole minutes in UTC, or in the IANA zone of spec.timeZone.

export interface CronSchedule {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Both day fields restricted: either matches (cron's OR). */
  dayOr: boolean;
  timeZone?: string;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** A schedule the controller refuses, with the reason (not thrown: the caller reports it as an event). */
export interface CronSyntaxError {
  error: string;
}

class Refusal {
  constructor(readonly message: string) {}
}

function field(text: string, min: number, max: number, names: string[] = [], nameBase = 0): Set<number> {
  const out = new Set<number>();
  const value = (s: string): number => {
    const i = names.indexOf(s.toLowerCase());
    const n = i >= 0 ? i + nameBase : /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new Refusal(`${s}: out of range [${min}, ${max}]`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Refusal(`${part}: bad step`);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') [lo, hi] = [min, max];
    else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      [lo, hi] = [value(a), value(b)];
      if (lo > hi) throw new Refusal(`${range}: empty range`);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Parses a schedule, or says why the controller would refuse it. */
export function parseSchedule(text: string, timeZone?: string): CronSchedule | CronSyntaxError {
  try {
    return parseFields(text, timeZone);
  } catch (e) {
    if (e instanceof Refusal) return { error: e.message };
    throw e;
  }
}

function parseFields(text: string, timeZone?: string): CronSchedule {
  if (timeZone) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      throw new Refusal(`unknown time zone ${timeZone}`);
    }
  }
  const spec = DESCRIPTORS[text.trim()] ?? text.trim();
  const parts = spec.split(/\s+/);
  if (parts.length !== 5) throw new Refusal(`expected exactly 5 fields, found ${parts.length}: ${text}`);
  const [mi, h, dom, mon, dow] = parts as [string, string, string, string, string];
  const weekdays = field(dow, 0, 7, WEEKDAYS);
  if (weekdays.has(7)) weekdays.add(0); // 7 is Sunday too
  return {
    minutes: field(mi, 0, 59),
    hours: field(h, 0, 23),
    days: field(dom, 1, 31),
    months: field(mon, 1, 12, MONTHS, 1),
    weekdays,
    dayOr: !/^[*?]/.test(dom) && !/^[*?]/.test(dow),
    ...(timeZone ? { timeZone } : {}),
  };
}

interface Wall {
  minute: number;
  hour: number;
  day: number;
  month: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of an instant in the schedule's zone (UTC without one). */
function wall(t: Date, timeZone?: string): Wall {
  if (!timeZone || timeZone === 'UTC' || timeZone === 'Etc/UTC')
    return {
      minute: t.getUTCMinutes(),
      hour: t.getUTCHours(),
      day: t.getUTCDate(),
      month: t.getUTCMonth() + 1,
      weekday: t.getUTCDay(),
    };
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      minute: 'numeric',
      hour: 'numeric',
      day: 'numeric',
      month: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  return {
    minute: Number(p.minute),
    hour: Number(p.hour),
    day: Number(p.day),
    month: Number(p.month),
    weekday: WEEKDAYS.indexOf(String(p.weekday).toLowerCase().slice(0, 3)),
  };
}

const dayMatches = (s: CronSchedule, w: Wall): boolean => {
  const dom = s.days.has(w.day);
  const dow = s.weekdays.has(w.weekday);
  return s.months.has(w.month) && (s.dayOr ? dom || dow : dom && dow);
};

/** Whether the schedule fires at the minute starting at `t`. */
export function matches(s: CronSchedule, t: Date): boolean {
  const w = wall(t, s.timeZone);
  return dayMatches(s, w) && s.hours.has(w.hour) && s.minutes.has(w.minute);
}

const MINUTE = 60_000;
/** Search bound: a year of minutes (a schedule such as Feb 30 never fires). */
const HORIZON_MINUTES = 366 * 24 * 60;

/**
 * The first firing strictly after `after`, or undefined within a year. A day or hour that cannot
 * match is skipped to the next wall-clock midnight or full hour, so a search costs at most a few
 * thousand steps.
 */
export function nextAfter(s: CronSchedule, after: Date): Date | undefined {
  let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  const end = t + HORIZON_MINUTES * MINUTE;
  while (t < end) {
    const w = wall(new Date(t), s.timeZone);
    if (!dayMatches(s, w)) t += ((23 - w.hour) * 60 + (60 - w.minute)) * MINUTE;
    else if (!s.hours.has(w.hour)) t += (60 - w.minute) * MINUTE;
    else if (!s.minutes.has(w.minute)) t += MINUTE;
    else return new Date(t);
  }
  return undefined;
}

/**
 * The latest firing in (since, now] — the one a controller that was away must still run — and how
 * many were missed in that window (capped at 101, as upstream stops counting past 100).
 */
export function mostRecent(s: CronSchedule, since: Date, now: Date): { time?: Date; missed: number } {
  let missed = 0;
  let last: Date | undefined;
  let t = since;
  for (;;) {
    const n = nextAfter(s, t);
    if (!n || n.getTime() > now.getTime()) break;
    last = n;
    t = n;
    if (++missed > 100) {
      // too many to walk: the latest one is all that matters
      let back = Math.floor(now.getTime() / MINUTE) * MINUTE;
      while (!matches(s, new Date(back))) back -= MINUTE;
      return { time: new Date(back), missed };
    }
  }
  return { ...(last ? { time: last } : {}), missed };
}
