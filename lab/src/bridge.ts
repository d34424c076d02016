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
  const log = opts.log ?? ((l: string) => process.stdout.write(`${new Date().toISOString()} ${l}\n`));
  const trigger = new RegExp((opts.trigger ?? DEFAULT_TRIGGER).source, (opts.trigger ?? DEFAULT_TRIGGER).flags.replace(/[gy]/g, ''));
  const requireMembership = opts.requireMembership ?? true;
  const report = opts.report ?? true;
  const startSec = Math.floor(Date.now() / 1000);
  const since = new Date(startSec * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const ac = new AbortController();
  const seen = new Set<number>();
  const tasks = new Set<Promise<void>>();
  /** The bodies of its own result comments (each names its build), so a loose trigger cannot loop. */
  const ours = new Set<string>();

  const call = async <T>(api: 'gitea' | 'drone', method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; data: T }> => {
    const { url, token } = opts[api];
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
      signal: ac.signal,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300 && res.statusCode !== 404) throw new HttpError(res.statusCode, `${api} ${method} ${path}`, text);
    return { status: res.statusCode, data: (text ? JSON.parse(text) : undefined) as T };
  };
  const ok = async <T>(api: 'gitea' | 'drone', method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const r = await call<T>(api, method, path, body);
    if (r.status === 404) throw new HttpError(404, `${api} ${method} ${path}`, JSON.stringify(r.data ?? ''));
    return r.data;
  };
  const repoPath = (o: string, r: string) => `/api/v1/repos/${encodeURIComponent(o)}/${encodeURIComponent(r)}`;

  const isMember = async (login: string): Promise<boolean> => {
    const r = await call('gitea', 'GET', `/api/v1/orgs/${encodeURIComponent(opts.org)}/members/${encodeURIComponent(login)}`);
    return r.status === 204;
  };

  const testme = async (o: string, r: string, pr: number, login: string, quick: boolean): Promise<void> => {
    const where = `${o}/${r}#${pr}`;
    const sha = (await ok<GiteaPull>('gitea', 'GET', `${repoPath(o, r)}/pulls/${pr}`)).head.sha;
    const status = async (state: string, target_url: string, description: string) => {
      if (report) await ok('gitea', 'POST', `${repoPath(o, r)}/statuses/${sha}`, { state, target_url, description, context: STATUS_CONTEXT });
    };
    const [dOwner, dName] = opts.drone.repo.split('/') as [string, string];
    const q = new URLSearchParams({ branch: 'main', PR: String(pr), RECIPE: r, REF: sha, QUICK: String(quick) });
    let build: DroneBuild;
    try {
      build = await ok<DroneBuild>('drone', 'POST', `/api/repos/${encodeURIComponent(dOwner)}/${encodeURIComponent(dName)}/builds?${q}`);
    } catch (e) {
      if (ac.signal.aborted) throw e;
      log(`${where}: cannot start the Drone build: ${(e as Error).message}`);
      await status('error', '', 'cc-ci could not start the Drone build');
      return;
    }
    // The build page: {DRONE_SERVER_PROTO}://{DRONE_SERVER_HOST}/{owner}/{repo}/{number}. Drone's own `link` is the commit.
    const link = opts.linkTo === 'commit' ? build.link : `${(opts.drone.serverUrl ?? opts.drone.url).replace(/\/+$/, '')}/${opts.drone.repo}/${build.number}`;
    log(`${where}: started Drone build #${build.number} for ${login} (REF=${sha} QUICK=${quick}): ${link}`);
    await status('pending', link, `Drone build #${build.number} is running`);
    while (RUNNING.includes(build.status)) {
      await delay(opts.pollMs, undefined, { signal: ac.signal });
      try {
        build = await ok<DroneBuild>('drone', 'GET', `/api/repos/${encodeURIComponent(dOwner)}/${encodeURIComponent(dName)}/builds/${build.number}`);
      } catch (e) {
        if (ac.signal.aborted) throw e;
        log(`${where}: cannot read Drone build #${build.number} (will retry): ${(e as Error).message}`);
      }
    }
    const final = FINAL[build.status] ?? 'error';
    log(`${where}: Drone build #${build.number} ended ${build.status}${report ? '' : ' (not reported)'}`);
    await status(final, link, `Drone build #${build.number}: ${build.status}`);
    if (!report) return;
    const cmd = `\`!testme${quick ? ' --quick' : ''}\``;
    const body = final === 'success' ? `✅ ${cmd} passed: ${link}` : `❌ ${cmd} failed${final === 'error' ? ` (Drone: ${build.status})` : ''}: ${link}`;
    ours.add(body);
    await ok('gitea', 'POST', `${repoPath(o, r)}/issues/${pr}/comments`, { body });
  };

  const consider = async (o: string, r: string, pr: number, c: GiteaComment): Promise<void> => {
    const where = `${o}/${r}#${pr}`;
    const body = c.body.trim();
    const login = c.user.login;
    if (ours.has(c.body)) return;
    if (!trigger.test(body)) {
      if (body.includes('!testme')) log(`${where}: comment ${c.id} by ${login} ignored: not a command (${JSON.stringify(body.slice(0, 60))})`);
      return;
    }
    if (requireMembership) {
      const member = await isMember(login).catch((e: unknown) => {
        log(`${where}: comment ${c.id} by ${login} ignored: cannot check membership: ${(e as Error).message}`);
        return undefined;
      });
      if (member === false) log(`${where}: comment ${c.id} by ${login} ignored: not a member of ${opts.org}`);
      if (!member) return;
    }
    const task = testme(o, r, pr, login, /--quick/.test(body)).catch((e: unknown) => {
      if (!ac.signal.aborted) log(`${where}: !testme for comment ${c.id} failed: ${(e as Error).message}`);
    });
    tasks.add(task);
    void task.finally(() => tasks.delete(task));
  };

  const pollRepo = async (o: string, r: string, pulls?: number[]): Promise<void> => {
    let numbers = pulls;
    if (!numbers) {
      numbers = [];
      for (let page = 1; ; page++) {
        const list = await ok<GiteaPull[]>('gitea', 'GET', `${repoPath(o, r)}/pulls?state=open&page=${page}&limit=50`);
        numbers.push(...list.map((p) => p.number));
        if (list.length < 50) break;
      }
    }
    for (const pr of numbers) {
      const comments = await ok<GiteaComment[]>('gitea', 'GET', `${repoPath(o, r)}/issues/${pr}/comments?since=${encodeURIComponent(since)}`);
      for (const c of [...comments].sort((a, b) => a.id - b.id)) {
        if (seen.has(c.id)) continue;
        seen.add(c.id);
        if (Date.parse(c.created_at) < startSec * 1000) continue; // from before the bridge started
        await consider(o, r, pr, c);
      }
    }
  };

  const loop = (async () => {
    log(
      `watching ${opts.repos.map((x) => `${x.owner}/${x.name}`).join(', ')} (trigger ${trigger}, membership ${requireMembership ? `of ${opts.org} required` : 'not checked'}, report ${report ? 'on' : 'off'})`,
    );
    while (!ac.signal.aborted) {
      for (const { owner, name, pulls } of opts.repos) {
        try {
          await pollRepo(owner, name, pulls);
        } catch (e) {
          if (!ac.signal.aborted) log(`${owner}/${name}: poll failed: ${(e as Error).message}`);
        }
      }
      await delay(opts.pollMs, undefined, { signal: ac.signal }).catch(() => {});
    }
  })();

  return {
    async close(): Promise<void> {
      ac.abort();
      await loop;
      await Promise.allSettled([...tasks]);
    },
  };
}
