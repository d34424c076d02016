// Lab stand-in for the Drone 2.x server with one exec-style runner (see lab/standins/drone-server
// for the subset it mirrors). Shapes and status codes follow drone/drone: handler/api/api.go,
// handler/api/repos/builds/{create,list,find}.go, handler/api/repos/builds/logs/find.go,
// handler/api/acl, session/session.go, core/{build,stage,step,repo,user}.go, trigger/trigger.go.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface DroneOptions {
  /** The database: a JSON file, created when missing. */
  statePath: string;
  host?: string;
  /** 0 (default) binds a free port. */
  port?: number;
  /** DRONE_SERVER_PROTO://DRONE_SERVER_HOST: the base of every build page ({base}/{slug}/{number}). */
  serverUrl: string;
  /**
   * The SCM (Gitea): `api` makes a build's `link`, which is the commit's API URL as go-scm's Gitea
   * driver gives it ({api}/api/v1/repos/{slug}/git/commits/{sha}), not the build page; `git`
   * (a URL prefix, {git}/{name}.git) resolves a branch to its tip when no commit is given.
   */
  scm?: { api: string; git?: string };
  /** token -> login; every such user may read and build every repository. */
  tokens: Record<string, string>;
  /** The argv the runner executes for each build. */
  pipeline: string[];
  /** Builds run in <workDir>/<build id>; default: drone-workspace beside the state file. */
  workDir?: string;
  /** The activated repositories ("owner/name"); default: any repository. */
  repos?: string[];
  log?: (line: string) => void;
}

export interface RunningDrone {
  url: string;
  close(): Promise<void>;
}

export interface LogLine {
  pos: number;
  out: string;
  time: number;
}

interface StepRec {
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

interface StageRec {
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

interface BuildRec {
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

interface RepoRec {
  id: number;
  namespace: string;
  name: string;
  counter: number;
  created: number;
  updated: number;
  version: number;
}

interface State {
  ids: { user: number; repo: number; build: number; stage: number; step: number };
  users: Record<string, { id: number; created: number }>;
  repos: Record<string, RepoRec>;
  builds: BuildRec[];
  /** step id -> its log. */
  logs: Record<string, LogLine[]>;
}

const NO_ROWS = 'sql: no rows in result set';
const DONE = (s: string) => !['waiting_on_dependencies', 'pending', 'running', 'blocked'].includes(s);
const now = () => Math.floor(Date.now() / 1000);

function loadState(path: string): State {
  if (!existsSync(path)) return { ids: { user: 0, repo: 0, build: 0, stage: 0, step: 0 }, users: {}, repos: {}, builds: [], logs: {} };
  return JSON.parse(readFileSync(path, 'utf8')) as State;
}

function renderStep(s: StepRec, stageId: number): object {
  return {
    id: s.id, // core/step.go serialises the parent stage as `step_id` (an upstream typo kept for compatibility).
    step_id: stageId,
    number: s.number,
    name: s.name,
    status: s.status,
    ...(s.error ? { error: s.error } : {}),
    exit_code: s.exitCode,
    ...(s.started ? { started: s.started } : {}),
    ...(s.stopped ? { stopped: s.stopped } : {}),
    version: s.version,
  };
}

function renderStage(s: StageRec, b: BuildRec): object {
  return {
    id: s.id,
    repo_id: b.repoId,
    build_id: b.id,
    number: s.number,
    name: s.name,
    kind: 'pipeline',
    type: 'exec',
    status: s.status,
    ...(s.error ? { error: s.error } : {}),
    errignore: false,
    exit_code: s.exitCode,
    ...(s.machine ? { machine: s.machine } : {}),
    os: 'linux',
    arch: 'amd64',
    started: s.started,
    stopped: s.stopped,
    created: s.created,
    updated: s.updated,
    version: s.version,
    on_success: true,
    on_failure: false,
    ...(s.steps.length ? { steps: s.steps.map((st) => renderStep(st, s.id)) } : {}),
  };
}

function renderBuild(b: BuildRec, withStages: boolean): object {
  return {
    id: b.id,
    repo_id: b.repoId,
    trigger: b.trigger,
    number: b.number,
    status: b.status,
    ...(b.error ? { error: b.error } : {}),
    event: 'custom',
    action: '',
    link: b.link,
    timestamp: 0,
    message: b.message,
    before: b.sha,
    after: b.sha,
    ref: b.ref,
    source_repo: '',
    source: b.branch,
    target: b.branch,
    author_login: '',
    author_name: '',
    author_email: '',
    author_avatar: '',
    sender: b.sender,
    ...(Object.keys(b.params).length ? { params: b.params } : {}),
    started: b.started,
    finished: b.finished,
    created: b.created,
    updated: b.updated,
    version: b.version,
    ...(withStages && b.stages.length ? { stages: b.stages.map((s) => renderStage(s, b)) } : {}),
  };
}

function renderRepo(r: RepoRec): object {
  return {
    id: r.id,
    uid: String(r.id),
    user_id: 1,
    namespace: r.namespace,
    name: r.name,
    slug: `${r.namespace}/${r.name}`,
    scm: '',
    git_http_url: '',
    git_ssh_url: '',
    link: '',
    default_branch: 'main',
    private: true,
    visibility: 'private',
    active: true,
    config_path: '.drone.yml',
    trusted: false,
    protected: false,
    ignore_forks: false,
    ignore_pull_requests: false,
    auto_cancel_pull_requests: false,
    auto_cancel_pushes: false,
    timeout: 60,
    counter: r.counter,
    synced: r.created,
    created: r.created,
    updated: r.updated,
    version: r.version,
    permissions: { read: true, write: true, admin: false },
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, no-store, must-revalidate, private, max-age=0' });
  res.end(`${JSON.stringify(body)}\n`);
}
const fail = (res: http.ServerResponse, status: number, message: string) => send(res, status, { message });

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
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

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function startDrone(opts: DroneOptions): Promise<RunningDrone> {
  if (opts.pipeline.length === 0) throw new Error('drone: the pipeline argv is empty');
  const log = opts.log ?? (() => {});
  const base = opts.serverUrl.replace(/\/+$/, '');
  const commitLink = (slug: string, sha: string): string =>
    opts.scm && sha ? `${opts.scm.api.replace(/\/+$/, '')}/api/v1/repos/${slug}/git/commits/${sha}` : '';
  const tipOf = (name: string, ref: string): string => {
    if (!opts.scm?.git) return '';
    const r = spawnSync('git', ['ls-remote', `${opts.scm.git.replace(/\/+$/, '')}/${name}.git`, ref], { encoding: 'utf8', timeout: 20_000 });
    return r.status === 0 ? (r.stdout.split('\t')[0] ?? '').trim() : '';
  };
  const serverUrl = new URL(base);
  const workDir = opts.workDir ?? join(dirname(opts.statePath), 'drone-workspace');
  const state = loadState(opts.statePath);
  const machine = hostname();
  const pipeline = opts.pipeline[0]!.includes('/') ? [resolve(opts.pipeline[0]!), ...opts.pipeline.slice(1)] : opts.pipeline;

  const save = (): void => {
    mkdirSync(dirname(opts.statePath), { recursive: true });
    const tmp = `${opts.statePath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state)}\n`);
    renameSync(tmp, opts.statePath);
  };
  const touch = (o: { updated?: number; version: number }): void => {
    o.version++;
    if (o.updated !== undefined) o.updated = now();
  };

  for (const login of Object.values(opts.tokens)) {
    if (!state.users[login]) state.users[login] = { id: ++state.ids.user, created: now() };
  }
  // What Drone's reaper does to a build whose runner went away: it ends, and so do its stage and steps.
  for (const b of state.builds.filter((x) => x.status === 'running')) {
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
  save();

  const findRepo = (namespace: string, name: string): RepoRec | undefined => {
    const slug = `${namespace}/${name}`;
    if (opts.repos && !opts.repos.includes(slug)) return undefined;
    if (state.repos[slug]) return state.repos[slug];
    const t = now();
    state.repos[slug] = { id: ++state.ids.repo, namespace, name, counter: 0, created: t, updated: t, version: 1 };
    save();
    return state.repos[slug];
  };

  // ---- the runner: one build at a time, oldest pending first.
  let closed = false;
  type Current = { build: BuildRec; child?: ChildProcess; done: Promise<void> };
  let current: Current | undefined;

  const kick = (): void => {
    if (closed || current) return;
    const next = state.builds.filter((b) => b.status === 'pending').sort((a, b) => a.id - b.id)[0];
    if (!next) return;
    const cur: Current = { build: next, done: Promise.resolve() };
    current = cur;
    cur.done = run(cur).finally(() => {
      current = undefined;
      kick();
    });
  };

  const run = (cur: Current): Promise<void> => {
    const b = cur.build;
    const stage = b.stages[0]!;
    const t0 = now();
    Object.assign(b, { status: 'running', started: t0 });
    touch(b);
    Object.assign(stage, { status: 'running', started: t0, machine });
    touch(stage);
    save();
    log(`build ${b.slug}#${b.number} running`);

    let step: { rec: StepRec; lines: LogLine[]; t0: number } | undefined;
    const startStep = (name: string): void => {
      const rec: StepRec = {
        id: ++state.ids.step,
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
      state.logs[String(rec.id)] = lines;
      step = { rec, lines, t0: Date.now() };
      touch(stage);
      save();
    };
    const endStep = (exitCode: number): void => {
      if (!step) return;
      Object.assign(step.rec, { status: exitCode === 0 ? 'success' : 'failure', exitCode, stopped: now() });
      step.rec.version++;
      step = undefined;
    };
    const onLine = (line: string): void => {
      const m = /^::step\s+(\S.*?)\s*$/.exec(line);
      if (m) {
        endStep(0);
        startStep(m[1]!);
        return;
      }
      const x = /^::exit\s+(\d+)\s*$/.exec(line);
      if (x) {
        endStep(Number(x[1]));
        return;
      }
      if (!step) startStep('run');
      step!.lines.push({ pos: step!.lines.length, out: `${line}\n`, time: Math.floor((Date.now() - step!.t0) / 1000) });
    };

    const ws = join(workDir, String(b.id));
    const [owner, name] = b.slug.split('/') as [string, string];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...b.params,
      CI: 'true',
      DRONE: 'true',
      DRONE_BUILD_NUMBER: String(b.number),
      DRONE_BUILD_EVENT: 'custom',
      DRONE_BUILD_LINK: `${base}/${b.slug}/${b.number}`,
      DRONE_COMMIT_LINK: b.link,
      DRONE_BUILD_TRIGGER: b.trigger,
      DRONE_BUILD_CREATED: String(b.created),
      DRONE_BUILD_STARTED: String(t0),
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
      DRONE_STAGE_MACHINE: machine,
      DRONE_WORKSPACE: ws,
      DRONE_SYSTEM_PROTO: serverUrl.protocol.replace(':', ''),
      DRONE_SYSTEM_HOST: serverUrl.host,
      DRONE_SYSTEM_HOSTNAME: serverUrl.hostname,
    };

    return new Promise<void>((resolve) => {
      let settled = false;
      const finish = (status: 'success' | 'failure' | 'error', exitCode: number, error = ''): void => {
        if (settled) return;
        settled = true;
        if (closed) return resolve(); // left running in the state: the next start reaps it
        if (status === 'error') {
          if (step) Object.assign(step.rec, { status: 'error', error, exitCode, stopped: now(), version: step.rec.version + 1 });
        } else {
          if (!step && stage.steps.length === 0) startStep('run');
          endStep(exitCode);
        }
        const t = now();
        Object.assign(stage, { status, error, exitCode, stopped: t });
        touch(stage);
        Object.assign(b, { status, error, finished: t });
        touch(b);
        save();
        log(`build ${b.slug}#${b.number} ${status}${error ? `: ${error}` : ''}`);
        resolve();
      };
      const cmd = pipeline[0]!;
      if (!lookPath(cmd, env.PATH ?? ''))
        return finish('error', 1, `exec: ${JSON.stringify(cmd)}: executable file not found${cmd.includes('/') ? '' : ' in $PATH'}`);
      let child: ChildProcess;
      try {
        mkdirSync(ws, { recursive: true });
        // One pipe for stdout and stderr (as a container's log is one stream), so lines keep their order.
        child = spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', ...pipeline], { cwd: ws, env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
      } catch (e) {
        return finish('error', 1, (e as Error).message);
      }
      cur.child = child;
      let pending = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (pending + chunk).split('\n');
        pending = parts.pop()!;
        for (const p of parts) onLine(p.replace(/\r$/, ''));
      });
      child.on('error', (e) => finish('error', 1, e.message));
      child.on('close', (code, signal) => {
        if (pending) onLine(pending);
        const exit = code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15);
        finish(exit === 0 ? 'success' : 'failure', exit);
      });
    });
  };

  // ---- the API.
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://drone');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const header = req.headers.authorization ?? '';
    const token = (header || url.searchParams.get('access_token') || '').replace(/^Bearer /, '');
    const login = token ? opts.tokens[token] : undefined;
    const user = login ? { login, ...state.users[login]! } : undefined;

    if (path === '/healthz') return void res.writeHead(200).end();
    if (!path.startsWith('/api/')) {
      const m = /^\/([^/]+)\/([^/]+)\/(\d+)$/.exec(path);
      const b = m ? state.builds.find((x) => x.slug === `${m[1]}/${m[2]}` && x.number === Number(m[3])) : undefined;
      const title = b ? `${b.slug} #${b.number}: ${b.status}` : 'Drone (lab stand-in)';
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      return void res.end(`<!DOCTYPE html><html><head><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1></body></html>\n`);
    }
    const notFound = () => {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end('404 page not found\n');
    };
    const allow = (...methods: string[]): boolean => {
      if (methods.includes(method)) return true;
      res.writeHead(405).end();
      return false;
    };

    if (path === '/api/user') {
      if (!allow('GET')) return;
      if (!user) return fail(res, 401, 'Unauthorized');
      const t = state.users[user.login]!.created;
      return send(res, 200, {
        id: user.id,
        login: user.login,
        email: '',
        machine: false,
        admin: false,
        active: true,
        avatar: '',
        syncing: false,
        synced: t,
        created: t,
        updated: t,
        last_login: t,
      });
    }
    const m = /^\/api\/repos\/([^/]+)\/([^/]+)(?:\/builds(?:\/([^/]+)(?:\/logs\/([^/]+)\/([^/]+))?)?)?$/.exec(path);
    if (!m) return notFound();
    const [, namespace, name, num, stageNum, stepNum] = m as unknown as [string, string, string, string?, string?, string?];
    const isBuilds = path.includes('/builds');
    if (!allow(...(isBuilds && num === undefined ? ['GET', 'POST'] : ['GET']))) return;
    if (!user) return fail(res, 401, 'Unauthorized'); // every repository here is private
    const repo = findRepo(namespace, name);
    if (!repo) return fail(res, 404, 'Not Found');
    const slug = `${namespace}/${name}`;

    if (!isBuilds) return send(res, 200, renderRepo(repo));
    if (num === undefined && method === 'GET') {
      const page = Number.parseInt(url.searchParams.get('page') ?? '', 10) || 0;
      let limit = Number.parseInt(url.searchParams.get('per_page') ?? '', 10) || 0;
      if (limit < 1 || limit > 100) limit = 25;
      const offset = page <= 1 ? 0 : (page - 1) * limit;
      const list = state.builds.filter((b) => b.slug === slug).sort((a, b) => b.id - a.id);
      return send(
        res,
        200,
        list.slice(offset, offset + limit).map((b) => renderBuild(b, false)),
      );
    }
    if (num === undefined) {
      const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')
        ? new URLSearchParams(await readBody(req))
        : new URLSearchParams();
      const value = (k: string) => url.searchParams.get(k) ?? form.get(k) ?? '';
      const branch = value('branch') || 'main';
      const ref = branch.startsWith('refs/') ? branch : `refs/heads/${branch}`;
      const sha = value('commit') || tipOf(name, ref);
      const params: Record<string, string> = {};
      for (const [k, v] of url.searchParams) if (!['access_token', 'commit', 'branch'].includes(k) && !(k in params)) params[k] = v;
      const t = now();
      repo.counter++;
      touch(repo);
      const b: BuildRec = {
        id: ++state.ids.build,
        repoId: repo.id,
        slug,
        number: repo.counter,
        trigger: user.login,
        status: 'pending',
        error: '',
        link: commitLink(slug, sha),
        message: value('message'),
        sha,
        ref,
        branch,
        sender: user.login,
        params,
        started: 0,
        finished: 0,
        created: t,
        updated: t,
        version: 1,
        stages: [
          {
            id: ++state.ids.stage,
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
      state.builds.push(b);
      save();
      log(
        `build ${slug}#${b.number} created by ${user.login} (custom${
          Object.keys(params).length
            ? `, ${Object.entries(params)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}`
            : ''
        })`,
      );
      send(res, 200, renderBuild(b, false));
      return kick();
    }
    const parseNum = (s: string, bits: 'int64' | 'int'): number | undefined => {
      if (/^[+-]?\d+$/.test(s)) return Number(s);
      fail(res, 400, `strconv.${bits === 'int64' ? 'ParseInt' : 'Atoi'}: parsing ${JSON.stringify(s)}: invalid syntax`);
      return undefined;
    };
    const number = parseNum(num, 'int64');
    if (number === undefined) return;
    const build = state.builds.find((b) => b.slug === slug && b.number === number);
    if (stageNum === undefined) return build ? send(res, 200, renderBuild(build, true)) : fail(res, 404, NO_ROWS);
    const sn = parseNum(stageNum, 'int');
    if (sn === undefined) return;
    const tn = parseNum(stepNum!, 'int');
    if (tn === undefined) return;
    const step = build?.stages.find((s) => s.number === sn)?.steps.find((s) => s.number === tn);
    // The runner uploads a step's log when the step ends; until then there is no row.
    const lines = step && DONE(step.status) ? state.logs[String(step.id)] : undefined;
    return lines ? send(res, 200, lines) : fail(res, 404, NO_ROWS);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) fail(res, 500, e instanceof Error ? e.message : String(e));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log(`listening on ${url} (server ${base}, ${state.builds.length} builds in ${opts.statePath})`);
  kick();

  return {
    url,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const cur = current;
      if (cur?.child?.pid && cur.child.exitCode === null && cur.child.signalCode === null) {
        const pid = cur.child.pid;
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
      save();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
