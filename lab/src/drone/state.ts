// The Drone stand-in's database: users, repositories, builds (with their stage and steps) and
// step logs, kept in one JSON file that is rewritten (atomically) after every change.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LogLine {
  pos: number;
  out: string;
  time: number;
}

export interface StepRec {
  id: number;
  number: number;
  name: string;
  status: string;
  error: string;
  exitCode: number;
  started: number;
  stopped: number;
  version: number;
}

export interface StageRec {
  id: number;
  number: number;
  name: string;
  status: string;
  error: string;
  exitCode: number;
  machine: string;
  started: number;
  stopped: number;
  created: number;
  updated: number;
  version: number;
  steps: StepRec[];
}

export interface BuildRec {
  id: number;
  repoId: number;
  slug: string;
  number: number;
  trigger: string;
  status: string;
  error: string;
  link: string;
  message: string;
  sha: string;
  ref: string;
  branch: string;
  sender: string;
  params: Record<string, string>;
  started: number;
  finished: number;
  created: number;
  updated: number;
  version: number;
  stages: StageRec[];
}

export interface RepoRec {
  id: number;
  namespace: string;
  name: string;
  counter: number;
  created: number;
  updated: number;
  version: number;
}

export interface State {
  ids: { user: number; repo: number; build: number; stage: number; step: number };
  users: Record<string, { id: number; created: number }>;
  repos: Record<string, RepoRec>;
  builds: BuildRec[];
  /** step id -> its log. */
  logs: Record<string, LogLine[]>;
}

/** What a new custom build is made of; the rest is the store's (ids, number, times). */
export interface NewBuild {
  login: string;
  branch: string;
  ref: string;
  sha: string;
  link: string;
  message: string;
  params: Record<string, string>;
}

/** core/status.go's IsDone: anything but waiting, pending, running and blocked. */
export const DONE = (s: string) => !['waiting_on_dependencies', 'pending', 'running', 'blocked'].includes(s);
export const now = () => Math.floor(Date.now() / 1000);

/** A row changed: its version goes up (and its updated time, where it has one). */
export function touch(o: { updated?: number; version: number }): void {
  o.version++;
  if (o.updated !== undefined) o.updated = now();
}

export class DroneStore {
  readonly state: State;

  constructor(
    readonly path: string,
    /** The activated repositories ("owner/name"); undefined: any repository. */
    private readonly repos?: string[],
  ) {
    this.state = existsSync(path)
      ? (JSON.parse(readFileSync(path, 'utf8')) as State)
      : { ids: { user: 0, repo: 0, build: 0, stage: 0, step: 0 }, users: {}, repos: {}, builds: [], logs: {} };
  }

  save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.state)}\n`);
    renameSync(tmp, this.path);
  }

  addUsers(logins: string[]): void {
    for (const login of logins) this.state.users[login] ??= { id: ++this.state.ids.user, created: now() };
  }

  /** What Drone's reaper does to a build whose runner went away: it ends, and so do its stage and steps. */
  reapRunning(log: (line: string) => void): void {
    for (const b of this.state.builds.filter((x) => x.status === 'running')) {
      const t = now();
      b.status = 'error';
      b.error = 'the server stopped while the build was running';
      b.finished = t;
      touch(b);
      for (const s of b.stages.filter((x) => !DONE(x.status))) {
        s.status = 'error';
        s.stopped = t;
        touch(s);
        for (const st of s.steps.filter((x) => !DONE(x.status))) Object.assign(st, { status: 'error', stopped: t, exitCode: 130, version: st.version + 1 });
      }
      log(`build ${b.slug}#${b.number} was running when the server stopped: error`);
    }
  }

  /** An activated repository, created on first sight (as a sync would); undefined when not activated. */
  findRepo(namespace: string, name: string): RepoRec | undefined {
    const slug = `${namespace}/${name}`;
    if (this.repos && !this.repos.includes(slug)) return undefined;
    if (this.state.repos[slug]) return this.state.repos[slug];
    const t = now();
    this.state.repos[slug] = { id: ++this.state.ids.repo, namespace, name, counter: 0, created: t, updated: t, version: 1 };
    this.save();
    return this.state.repos[slug];
  }

  findBuild(slug: string, number: number): BuildRec | undefined {
    return this.state.builds.find((b) => b.slug === slug && b.number === number);
  }

  /** The repository's builds, newest first. */
  listBuilds(slug: string): BuildRec[] {
    return this.state.builds.filter((b) => b.slug === slug).sort((a, b) => b.id - a.id);
  }

  /** The oldest pending build: the runner's next. */
  nextPending(): BuildRec | undefined {
    return this.state.builds.filter((b) => b.status === 'pending').sort((a, b) => a.id - b.id)[0];
  }

  /** A pending custom build with its one stage, "default", numbered by the repository's counter. */
  createBuild(repo: RepoRec, n: NewBuild): BuildRec {
    const t = now();
    repo.counter++;
    touch(repo);
    const b: BuildRec = {
      id: ++this.state.ids.build,
      repoId: repo.id,
      slug: `${repo.namespace}/${repo.name}`,
      number: repo.counter,
      trigger: n.login,
      status: 'pending',
      error: '',
      link: n.link,
      message: n.message,
      sha: n.sha,
      ref: n.ref,
      branch: n.branch,
      sender: n.login,
      params: n.params,
      started: 0,
      finished: 0,
      created: t,
      updated: t,
      version: 1,
      stages: [
        {
          id: ++this.state.ids.stage,
          number: 1,
          name: 'default',
          status: 'pending',
          error: '',
          exitCode: 0,
          machine: '',
          started: 0,
          stopped: 0,
          created: t,
          updated: t,
          version: 1,
          steps: [],
        },
      ],
    };
    this.state.builds.push(b);
    this.save();
    return b;
  }

  /** A new running step at the end of the stage, with an empty log. */
  addStep(stage: StageRec, name: string): { rec: StepRec; lines: LogLine[] } {
    const rec: StepRec = {
      id: ++this.state.ids.step,
      number: stage.steps.length + 1,
      name,
      status: 'running',
      error: '',
      exitCode: 0,
      started: now(),
      stopped: 0,
      version: 1,
    };
    stage.steps.push(rec);
    const lines: LogLine[] = [];
    this.state.logs[String(rec.id)] = lines;
    touch(stage);
    this.save();
    return { rec, lines };
  }

  logOf(step: StepRec): LogLine[] | undefined {
    return this.state.logs[String(step.id)];
  }
}
