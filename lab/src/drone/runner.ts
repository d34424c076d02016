// The Drone stand-in's one exec-style runner: builds run one at a time, oldest pending first, as
// PIPELINE in <workDir>/<build id>; its output lines are the step logs (see parsePipelineLine).
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type BuildRec, type DroneStore, type LogLine, type StageRec, type StepRec, now, touch } from './state';

export type PipelineLine = { step: string } | { exit: number } | { out: string };

/**
 * The stand-in's convention for a pipeline's output: `::step NAME` starts a step (the previous
 * one ends successful), `::exit N` ends the current step with exit code N; any other line is log.
 */
export function parsePipelineLine(line: string): PipelineLine {
  const step = /^::step\s+(\S.*?)\s*$/.exec(line);
  if (step) return { step: step[1]! };
  const exit = /^::exit\s+(\d+)\s*$/.exec(line);
  if (exit) return { exit: Number(exit[1]) };
  return { out: line };
}

export interface EnvContext {
  /** The server URL (DRONE_SERVER_PROTO://DRONE_SERVER_HOST), without a trailing slash. */
  base: string;
  server: URL;
  machine: string;
  workspace: string;
  /** When the build started (Unix seconds). */
  started: number;
}

/** The variables a Drone runner gives the pipeline (runner-go's environ), for this subset. */
export function droneEnv(b: BuildRec, stage: StageRec, c: EnvContext): Record<string, string> {
  const [owner, name] = b.slug.split('/') as [string, string];
  return {
    CI: 'true',
    DRONE: 'true',
    DRONE_BUILD_NUMBER: String(b.number),
    DRONE_BUILD_EVENT: 'custom',
    DRONE_BUILD_LINK: `${c.base}/${b.slug}/${b.number}`,
    DRONE_COMMIT_LINK: b.link,
    DRONE_BUILD_TRIGGER: b.trigger,
    DRONE_BUILD_CREATED: String(b.created),
    DRONE_BUILD_STARTED: String(c.started),
    DRONE_REPO: b.slug,
    DRONE_REPO_OWNER: owner,
    DRONE_REPO_NAMESPACE: owner,
    DRONE_REPO_NAME: name,
    DRONE_REPO_BRANCH: 'main',
    DRONE_COMMIT: b.sha,
    DRONE_COMMIT_SHA: b.sha,
    DRONE_COMMIT_AFTER: b.sha,
    DRONE_COMMIT_BEFORE: b.sha,
    DRONE_COMMIT_BRANCH: b.branch,
    DRONE_BRANCH: b.branch,
    DRONE_COMMIT_REF: b.ref,
    DRONE_STAGE_NAME: stage.name,
    DRONE_STAGE_NUMBER: String(stage.number),
    DRONE_STAGE_MACHINE: c.machine,
    DRONE_WORKSPACE: c.workspace,
    DRONE_SYSTEM_PROTO: c.server.protocol.replace(':', ''),
    DRONE_SYSTEM_HOST: c.server.host,
    DRONE_SYSTEM_HOSTNAME: c.server.hostname,
  };
}

/** Go's exec.LookPath: a name with a slash is used as is, else searched in PATH. */
function lookPath(cmd: string, path: string): boolean {
  const candidates = cmd.includes('/')
    ? [cmd]
    : path
        .split(':')
        .filter(Boolean)
        .map((d) => join(d, cmd));
  return candidates.some((f) => {
    try {
      accessSync(f, constants.X_OK);
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

export type Outcome = 'success' | 'failure' | 'error';

/** One build's record while it runs: the stage's steps as the pipeline's lines open and end them. */
class BuildRun {
  private step: { rec: StepRec; lines: LogLine[]; t0: number } | undefined;
  private readonly stage: StageRec;

  constructor(
    private readonly store: DroneStore,
    readonly build: BuildRec,
    started: number,
    machine: string,
  ) {
    this.stage = build.stages[0]!;
    Object.assign(build, { status: 'running', started });
    touch(build);
    Object.assign(this.stage, { status: 'running', started, machine });
    touch(this.stage);
    store.save();
  }

  line(text: string): void {
    const l = parsePipelineLine(text);
    if ('step' in l) {
      this.endStep(0);
      this.startStep(l.step);
    } else if ('exit' in l) this.endStep(l.exit);
    else {
      if (!this.step) this.startStep('run');
      const s = this.step!;
      s.lines.push({ pos: s.lines.length, out: `${l.out}\n`, time: Math.floor((Date.now() - s.t0) / 1000) });
    }
  }

  /** The build ends: an error leaves the open step errored, else the exit code ends it (a silent pipeline gets one step, "run"). */
  finish(status: Outcome, exitCode: number, error: string): void {
    if (status === 'error') {
      if (this.step) Object.assign(this.step.rec, { status: 'error', error, exitCode, stopped: now(), version: this.step.rec.version + 1 });
    } else {
      if (!this.step && this.stage.steps.length === 0) this.startStep('run');
      this.endStep(exitCode);
    }
    const t = now();
    Object.assign(this.stage, { status, error, exitCode, stopped: t });
    touch(this.stage);
    Object.assign(this.build, { status, error, finished: t });
    touch(this.build);
    this.store.save();
  }

  private startStep(name: string): void {
    const t0 = Date.now();
    this.step = { ...this.store.addStep(this.stage, name), t0 };
  }

  private endStep(exitCode: number): void {
    if (!this.step) return;
    Object.assign(this.step.rec, { status: exitCode === 0 ? 'success' : 'failure', exitCode, stopped: now() });
    this.step.rec.version++;
    this.step = undefined;
  }
}

export interface RunnerOptions {
  /** The argv run for each build; a relative path with a slash is taken from the server's cwd. */
  pipeline: string[];
  workDir: string;
  base: string;
  server: URL;
  machine: string;
  log: (line: string) => void;
}

/** The build the runner is on, its pipeline's process once spawned, and the end of its run. */
interface Current {
  build: BuildRec;
  child?: ChildProcess;
  done: Promise<void>;
}

export class Runner {
  private closed = false;
  private current: Current | undefined;
  private readonly pipeline: string[];

  constructor(
    private readonly store: DroneStore,
    private readonly o: RunnerOptions,
  ) {
    const [cmd, ...args] = o.pipeline as [string, ...string[]];
    this.pipeline = cmd.includes('/') ? [resolve(cmd), ...args] : o.pipeline;
  }

  /** Starts the oldest pending build, unless one is running (or the runner is closed). */
  kick(): void {
    if (this.closed || this.current) return;
    const next = this.store.nextPending();
    if (!next) return;
    const cur: Current = { build: next, done: Promise.resolve() };
    this.current = cur;
    cur.done = this.run(cur).finally(() => {
      this.current = undefined;
      this.kick();
    });
  }

  /** Stops the running pipeline's process group (TERM, KILL after 5 s; waits 10 s at most); its build is left running, for the next start to reap. */
  async close(): Promise<void> {
    this.closed = true;
    const cur = this.current;
    const pid = cur?.child?.pid;
    if (!cur || !pid || cur.child!.exitCode !== null || cur.child!.signalCode !== null) return;
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* already gone */
      }
    };
    kill('SIGTERM');
    const timers = [setTimeout(() => kill('SIGKILL'), 5000)];
    await Promise.race([cur.done, new Promise((r) => timers.push(setTimeout(r, 10_000)))]);
    timers.forEach(clearTimeout);
  }

  private run(cur: Current): Promise<void> {
    const b = cur.build;
    const started = now();
    const run = new BuildRun(this.store, b, started, this.o.machine);
    this.o.log(`build ${b.slug}#${b.number} running`);
    const workspace = join(this.o.workDir, String(b.id));
    const { base, server, machine } = this.o;
    const env: NodeJS.ProcessEnv = { ...process.env, ...b.params, ...droneEnv(b, b.stages[0]!, { base, server, machine, workspace, started }) };

    return new Promise<void>((done) => {
      let settled = false;
      const finish = (status: Outcome, exitCode: number, error = ''): void => {
        if (settled) return;
        settled = true;
        // Closed: the build is left running in the state, and the next start reaps it.
        if (!this.closed) {
          run.finish(status, exitCode, error);
          this.o.log(`build ${b.slug}#${b.number} ${status}${error ? `: ${error}` : ''}`);
        }
        done();
      };
      const cmd = this.pipeline[0]!;
      if (!lookPath(cmd, env.PATH ?? ''))
        return finish('error', 1, `exec: ${JSON.stringify(cmd)}: executable file not found${cmd.includes('/') ? '' : ' in $PATH'}`);
      let child: ChildProcess;
      try {
        mkdirSync(workspace, { recursive: true });
        // One pipe for stdout and stderr (as a container's log is one stream), so lines keep their order.
        child = spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', ...this.pipeline], {
          cwd: workspace,
          env,
          stdio: ['ignore', 'pipe', 'ignore'],
          detached: true,
        });
      } catch (e) {
        return finish('error', 1, (e as Error).message);
      }
      cur.child = child;
      let pending = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (pending + chunk).split('\n');
        pending = parts.pop()!;
        for (const p of parts) run.line(p.replace(/\r$/, ''));
      });
      child.on('error', (e) => finish('error', 1, e.message));
      child.on('close', (code, signal) => {
        if (pending) run.line(pending);
        const exit = code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15);
        finish(exit === 0 ? 'success' : 'failure', exit);
      });
    });
  }
}
