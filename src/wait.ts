import type { Recorder } from './evidence/recorder';

// The one wait primitive: every wait for a condition polls through here, with a deadline,
// backoff, a heartbeat on the console, and the wait recorded in the evidence.

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

export interface PollOptions {
  /** What is waited for, in words ("the stacks to converge"). */
  what: string;
  deadlineMs: number;
  /** First pause; each pause doubles up to maxPauseMs. */
  pauseMs?: number;
  maxPauseMs?: number;
  /** A console line this often while waiting (default 30 s); none without a recorder. */
  heartbeatMs?: number;
  /** Where the wait is said and recorded (`wait.<key>`); omit for a silent wait. */
  recorder?: Recorder;
  key?: string;
  /** Evidence host of the recorded wait. */
  host?: string;
  /** Console prefix ("e2e" gives "e2e: waiting for …"). */
  prefix?: string;
}

export interface Waited {
  stage: string;
  waitedMs: number;
  deadlineMs: number;
  met: boolean;
  polls: number;
  /** Why the probe stopped the wait before its deadline, when it did. */
  gaveUp?: string;
}

/** What a probe returns to end its wait unmet before the deadline: the condition can no longer happen. */
export class GiveUp {
  constructor(readonly reason: string) {}
}

const seconds = (ms: number) => `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)}s`;

/**
 * Calls `probe` until it returns a value (not undefined), a GiveUp, or the deadline passes. The
 * probe runs at least once, and once more at the deadline; the pause never carries past it.
 */
export async function poll<T>(opts: PollOptions, probe: () => Promise<T | undefined | GiveUp>): Promise<{ value?: T; waited: Waited }> {
  const t0 = Date.now();
  const { recorder, what, deadlineMs } = opts;
  const heartbeat = opts.heartbeatMs ?? 30_000;
  const say = (line: string) => recorder?.progress(opts.prefix ? `${opts.prefix}: ${line}` : line);
  say(`waiting for ${JSON.stringify(what)} (deadline ${seconds(deadlineMs)})`);
  let nextBeat = heartbeat;
  let polls = 0;
  for (let pause = opts.pauseMs ?? 250; ; pause = Math.min(pause * 2, opts.maxPauseMs ?? 2000)) {
    polls++;
    const got = await probe();
    const waitedMs = Date.now() - t0;
    if (got instanceof GiveUp) {
      const waited = { stage: what, waitedMs, deadlineMs, met: false, polls, gaveUp: got.reason };
      if (recorder && opts.key) recorder.fact(`wait.${opts.key}`, waited, opts.host);
      say(`${JSON.stringify(what)} cannot happen any more (${got.reason}), after ${seconds(waitedMs)} of ${seconds(deadlineMs)}`);
      return { waited };
    }
    const value = got;
    if (value !== undefined || waitedMs >= deadlineMs) {
      const waited = { stage: what, waitedMs, deadlineMs, met: value !== undefined, polls };
      if (recorder && opts.key) recorder.fact(`wait.${opts.key}`, waited, opts.host);
      say(`${JSON.stringify(what)} ${waited.met ? 'after' : 'did not happen in'} ${seconds(waitedMs)} of ${seconds(deadlineMs)}`);
      return { value, waited };
    }
    if (recorder && waitedMs >= nextBeat) {
      say(`still waiting for ${JSON.stringify(what)}: ${seconds(waitedMs)} of ${seconds(deadlineMs)}`);
      nextBeat += heartbeat;
    }
    await sleep(Math.min(pause, deadlineMs - waitedMs));
  }
}
