// Lab stand-in for cc-ci's comment-bridge (see lab/standins/comment-bridge): polls PR comments on
// Gitea, starts a custom Drone build for each `!testme` by an org member, follows it and reports
// back (commit status cc-ci/testme on the PR head, then a PR comment linking the build).
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';

export interface BridgeOptions {
  gitea: { url: string; token: string };
  /** url: where the bridge calls Drone; serverUrl: Drone's own DRONE_SERVER_PROTO://HOST, the base of its build pages. */
  drone: { url: string; token: string /** owner/name of the CI repo */; repo: string; serverUrl?: string };
  org: string;
  repos: { owner: string; name: string; pulls?: number[] }[];
  pollMs: number;
  log?: (line: string) => void;
  /** Default: the whole comment, trimmed, is `!testme` or `!testme --quick`. */
  trigger?: RegExp;
  /** Default true: only members of `org` may trigger. */
  requireMembership?: boolean;
  /** Default true: post commit statuses and the result comment. */
  report?: boolean;
  /** What the status and the comment link: the build page (default, as cc-ci's bridge does), or the build's `link` (its commit). */
  linkTo?: 'build' | 'commit';
}

export interface RunningBridge {
  close(): Promise<void>;
}

export const DEFAULT_TRIGGER = /^!testme( --quick)?$/;
export const STATUS_CONTEXT = 'cc-ci/testme';

interface GiteaComment {
  id: number;
  body: string;
  user: { login: string };
  created_at: string;
}
interface GiteaPull {
  number: number;
  head: { sha: string };
}
interface DroneBuild {
  number: number;
  status: string;
  link: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    what: string,
    body: string,
  ) {
    super(`${what}: HTTP ${status}${body ? `: ${body.trim().slice(0, 200)}` : ''}`);
  }
}

const RUNNING = ['pending', 'running', 'waiting_on_dependencies', 'blocked'];
const FINAL: Record<string, 'success' | 'failure' | 'error'> = { success: 'success', failure: 'failure', killed: 'failure', error: 'error' };

export function startBridge(opts: BridgeOptions): RunningBridge {
  return new Bridge(opts);
}

type Api = 'gitea' | 'drone';
const repoPath = (o: string, r: string) => `/api/v1/repos/${encodeURIComponent(o)}/${encodeURIComponent(r)}`;

class Bridge implements RunningBridge {
  private readonly log: (line: string) => void;
  private readonly trigger: RegExp;
  private readonly requireMembership: boolean;
  private readonly report: boolean;
  private readonly startSec = Math.floor(Date.now() / 1000);
  private readonly since = new Date(this.startSec * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  private readonly ac = new AbortController();
  private readonly seen = new Set<number>();
  private readonly tasks = new Set<Promise<void>>();
  /** The bodies of its own result comments (each names its build), so a loose trigger cannot loop. */
  private readonly ours = new Set<string>();
  private readonly loop: Promise<void>;

  constructor(private readonly opts: BridgeOptions) {
    this.log = opts.log ?? ((l: string) => process.stdout.write(`${new Date().toISOString()} ${l}\n`));
    const t = opts.trigger ?? DEFAULT_TRIGGER;
    this.trigger = new RegExp(t.source, t.flags.replace(/[gy]/g, ''));
    this.requireMembership = opts.requireMembership ?? true;
    this.report = opts.report ?? true;
    this.loop = this.watch();
  }

  async close(): Promise<void> {
    this.ac.abort();
    await this.loop;
    await Promise.allSettled([...this.tasks]);
  }

  private async call<T>(api: Api, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; data: T }> {
    const { url, token } = this.opts[api];
    const res = await request(`${url.replace(/\/+$/, '')}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        authorization: api === 'gitea' ? `token ${token}` : `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
      signal: this.ac.signal,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300 && res.statusCode !== 404) throw new HttpError(res.statusCode, `${api} ${method} ${path}`, text);
    return { status: res.statusCode, data: (text ? JSON.parse(text) : undefined) as T };
  }

  private async ok<T>(api: Api, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const r = await this.call<T>(api, method, path, body);
    if (r.status === 404) throw new HttpError(404, `${api} ${method} ${path}`, JSON.stringify(r.data ?? ''));
    return r.data;
  }

  private async isMember(login: string): Promise<boolean> {
    const r = await this.call('gitea', 'GET', `/api/v1/orgs/${encodeURIComponent(this.opts.org)}/members/${encodeURIComponent(login)}`);
    return r.status === 204;
  }

  private buildsPath(number?: number): string {
    const [owner, name] = this.opts.drone.repo.split('/') as [string, string];
    return `/api/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/builds${number === undefined ? '' : `/${number}`}`;
  }

  /** The build page: {DRONE_SERVER_PROTO}://{DRONE_SERVER_HOST}/{owner}/{repo}/{number}. Drone's own `link` is the commit. */
  private linkOf(build: DroneBuild): string {
    const d = this.opts.drone;
    return this.opts.linkTo === 'commit' ? build.link : `${(d.serverUrl ?? d.url).replace(/\/+$/, '')}/${d.repo}/${build.number}`;
  }

  /** One !testme: start the build, report it pending, follow it, report its result. */
  private async testme(o: string, r: string, pr: number, login: string, quick: boolean): Promise<void> {
    const where = `${o}/${r}#${pr}`;
    const sha = (await this.ok<GiteaPull>('gitea', 'GET', `${repoPath(o, r)}/pulls/${pr}`)).head.sha;
    const status = async (state: string, target_url: string, description: string) => {
      if (this.report) await this.ok('gitea', 'POST', `${repoPath(o, r)}/statuses/${sha}`, { state, target_url, description, context: STATUS_CONTEXT });
    };
    const q = new URLSearchParams({ branch: 'main', PR: String(pr), RECIPE: r, REF: sha, QUICK: String(quick) });
    let build: DroneBuild;
    try {
      build = await this.ok<DroneBuild>('drone', 'POST', `${this.buildsPath()}?${q}`);
    } catch (e) {
      if (this.ac.signal.aborted) throw e;
      this.log(`${where}: cannot start the Drone build: ${(e as Error).message}`);
      await status('error', '', 'cc-ci could not start the Drone build');
      return;
    }
    const link = this.linkOf(build);
    this.log(`${where}: started Drone build #${build.number} for ${login} (REF=${sha} QUICK=${quick}): ${link}`);
    await status('pending', link, `Drone build #${build.number} is running`);
    build = await this.follow(where, build);
    const final = FINAL[build.status] ?? 'error';
    this.log(`${where}: Drone build #${build.number} ended ${build.status}${this.report ? '' : ' (not reported)'}`);
    await status(final, link, `Drone build #${build.number}: ${build.status}`);
    if (!this.report) return;
    const cmd = `\`!testme${quick ? ' --quick' : ''}\``;
    const body = final === 'success' ? `✅ ${cmd} passed: ${link}` : `❌ ${cmd} failed${final === 'error' ? ` (Drone: ${build.status})` : ''}: ${link}`;
    this.ours.add(body);
    await this.ok('gitea', 'POST', `${repoPath(o, r)}/issues/${pr}/comments`, { body });
  }

  /** Polls a build until it is no longer running. */
  private async follow(where: string, started: DroneBuild): Promise<DroneBuild> {
    let build = started;
    while (RUNNING.includes(build.status)) {
      await delay(this.opts.pollMs, undefined, { signal: this.ac.signal });
      try {
        build = await this.ok<DroneBuild>('drone', 'GET', this.buildsPath(build.number));
      } catch (e) {
        if (this.ac.signal.aborted) throw e;
        this.log(`${where}: cannot read Drone build #${build.number} (will retry): ${(e as Error).message}`);
      }
    }
    return build;
  }

  /** A new comment: a member's command starts a !testme; anything else is ignored, said when it looks like one. */
  private async consider(o: string, r: string, pr: number, c: GiteaComment): Promise<void> {
    const where = `${o}/${r}#${pr}`;
    const body = c.body.trim();
    const login = c.user.login;
    if (this.ours.has(c.body)) return;
    if (!this.trigger.test(body)) {
      if (body.includes('!testme')) this.log(`${where}: comment ${c.id} by ${login} ignored: not a command (${JSON.stringify(body.slice(0, 60))})`);
      return;
    }
    if (this.requireMembership) {
      const member = await this.isMember(login).catch((e: unknown) => {
        this.log(`${where}: comment ${c.id} by ${login} ignored: cannot check membership: ${(e as Error).message}`);
        return undefined;
      });
      if (member === false) this.log(`${where}: comment ${c.id} by ${login} ignored: not a member of ${this.opts.org}`);
      if (!member) return;
    }
    const task = this.testme(o, r, pr, login, /--quick/.test(body)).catch((e: unknown) => {
      if (!this.ac.signal.aborted) this.log(`${where}: !testme for comment ${c.id} failed: ${(e as Error).message}`);
    });
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }

  private async openPulls(o: string, r: string): Promise<number[]> {
    const numbers: number[] = [];
    for (let page = 1; ; page++) {
      const list = await this.ok<GiteaPull[]>('gitea', 'GET', `${repoPath(o, r)}/pulls?state=open&page=${page}&limit=50`);
      numbers.push(...list.map((p) => p.number));
      if (list.length < 50) return numbers;
    }
  }

  private async pollRepo(o: string, r: string, pulls?: number[]): Promise<void> {
    for (const pr of pulls ?? (await this.openPulls(o, r))) {
      const comments = await this.ok<GiteaComment[]>('gitea', 'GET', `${repoPath(o, r)}/issues/${pr}/comments?since=${encodeURIComponent(this.since)}`);
      for (const c of [...comments].sort((a, b) => a.id - b.id)) {
        if (this.seen.has(c.id)) continue;
        this.seen.add(c.id);
        if (Date.parse(c.created_at) < this.startSec * 1000) continue; // from before the bridge started
        await this.consider(o, r, pr, c);
      }
    }
  }

  private async watch(): Promise<void> {
    const { repos, pollMs } = this.opts;
    this.log(
      `watching ${repos.map((x) => `${x.owner}/${x.name}`).join(', ')} (trigger ${this.trigger}, membership ${this.requireMembership ? `of ${this.opts.org} required` : 'not checked'}, report ${this.report ? 'on' : 'off'})`,
    );
    while (!this.ac.signal.aborted) {
      for (const { owner, name, pulls } of repos) {
        try {
          await this.pollRepo(owner, name, pulls);
        } catch (e) {
          if (!this.ac.signal.aborted) this.log(`${owner}/${name}: poll failed: ${(e as Error).message}`);
        }
      }
      await delay(pollMs, undefined, { signal: this.ac.signal }).catch(() => {});
    }
  }
}
