import { GokuError } from '../errors.js';

/** A daily deploy window in UTC, as minutes after midnight; `end` before `start` wraps midnight. */
export interface DeployWindow {
  start: number;
  end: number;
}

/**
 * When an image app's updates (hook or watcher) may deploy: inside a daily window, or once
 * at a set time (then the schedule clears). `downtime`: the app may not run two copies, so its
 * deploys stop the old container before the new one starts.
 */
export interface Schedule {
  window?: DeployWindow;
  /** ISO 8601, UTC. */
  at?: string;
  downtime?: boolean;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutes(text: string): number | null {
  const m = HHMM.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** `HH:MM-HH:MM` (UTC, 24-hour) → a window; GOKU_ERR_USAGE naming the form otherwise. */
export function parseWindow(text: string): DeployWindow {
  const [a, b, ...rest] = text.split('-');
  const start = minutes(a ?? '');
  const end = minutes(b ?? '');
  if (start === null || end === null || rest.length > 0) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `invalid window ${JSON.stringify(text.slice(0, 40))}: use HH:MM-HH:MM in UTC, e.g. 02:00-04:30 (it may wrap midnight: 23:00-01:00)`,
    );
  }
  if (start === end) {
    throw new GokuError('GOKU_ERR_USAGE', `window ${text} is empty: start and end are the same minute`);
  }
  return { start, end };
}

export function formatWindow(w: DeployWindow): string {
  const f = (m: number) =>
    `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${f(w.start)}-${f(w.end)}`;
}

function minuteOfDay(now: Date): number {
  return now.getUTCHours() * 60 + now.getUTCMinutes();
}

export function windowOpen(w: DeployWindow, now: Date): boolean {
  const m = minuteOfDay(now);
  return w.start < w.end ? m >= w.start && m < w.end : m >= w.start || m < w.end;
}

/** The next moment the window opens (now, if it is open). */
export function nextOpening(w: DeployWindow, now: Date): Date {
  if (windowOpen(w, now)) return now;
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  let t = day + w.start * 60_000;
  if (t <= now.getTime()) t += 86_400_000;
  return new Date(t);
}

/** `--at`: ISO 8601 (with a zone or Z) or Unix seconds, in the future. */
export function parseAt(text: string, now: Date): Date {
  let t: number;
  if (/^\d{1,12}$/.test(text)) t = Number(text) * 1000;
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text))
    t = Date.parse(text);
  else t = Number.NaN;
  if (!Number.isFinite(t)) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `invalid time ${JSON.stringify(text.slice(0, 40))}: use ISO 8601 with a zone (2026-12-24T03:00:00Z) or Unix seconds`,
    );
  }
  if (t <= now.getTime()) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${new Date(t).toISOString()} has passed; pick a time in the future`,
    );
  }
  return new Date(t);
}

/** May an update deploy now under this schedule? No schedule: always. */
export function deployAllowed(s: Schedule | undefined, now: Date): boolean {
  if (!s) return true;
  if (s.at) return now.getTime() >= Date.parse(s.at);
  if (s.window) return windowOpen(s.window, now);
  return true;
}

/** When a held update will deploy: the window's next opening or the set time; null: now. */
export function nextDeployTime(s: Schedule | undefined, now: Date): Date | null {
  if (!s || deployAllowed(s, now)) return null;
  if (s.at) return new Date(s.at);
  return s.window ? nextOpening(s.window, now) : null;
}
