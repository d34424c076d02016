// Lab stand-in for Gitea's REST API v1 (the subset listed in lab/standins/gitea), mirroring Gitea 1.21/1.22:
// routers/api/v1/api.go (routes, middleware order), services/context/api.go (errors, Link/X-Total-Count),
// services/convert/*.go and modules/structs/*.go (JSON shapes), services/auth/oauth2.go + basic.go (tokens).
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';

export interface GiteaSeed {
  version?: string;
  users: { login: string; token?: string; tokens?: string[]; full_name?: string; email?: string; admin?: boolean; keep_email_private?: boolean }[];
  orgs?: { name: string; full_name?: string; email?: string; members?: string[]; owners?: string[]; public_members?: string[]; visibility?: Visibility }[];
  repos?: SeedRepo[];
}
export interface SeedRepo {
  owner: string;
  name: string;
  description?: string;
  private?: boolean;
  archived?: boolean;
  default_branch?: string;
  branches?: Record<string, string>;
  tags?: Record<string, string>;
  commits?: string[];
  /** The bare repository the files come from (for /raw), on the forge. */
  gitDir?: string;
  collaborators?: Record<string, 'read' | 'write' | 'admin'>;
  issues?: { number?: number; title: string; body?: string; user: string; state?: 'open' | 'closed'; locked?: boolean }[];
  pulls?: SeedPull[];
}
export interface SeedPull {
  number?: number;
  title: string;
  body?: string;
  user: string;
  state?: 'open' | 'closed';
  merged?: boolean;
  mergeable?: boolean;
  locked?: boolean;
  head: { ref: string; sha: string; repo?: string };
  base: { ref: string; sha?: string };
  additions?: number;
  deletions?: number;
  changed_files?: number;
}
export interface GiteaOptions {
  statePath: string;
  host?: string;
  port?: number;
  baseUrl?: string;
  log?: (l: string) => void;
  now?: () => Date;
}
export interface RunningGitea {
  url: string;
  close(): Promise<void>;
}

type Visibility = 'public' | 'limited' | 'private';
interface Member {
  uid: number;
  public: boolean;
  owner: boolean;
}
interface UserRec {
  id: number;
  login: string;
  org: boolean;
  full_name: string;
  email: string;
  admin: boolean;
  keep_email_private: boolean;
  visibility: Visibility;
  created: number;
  members?: Member[];
}
interface RepoRec {
  id: number;
  owner_id: number;
  name: string;
  description: string;
  private: boolean;
  archived: boolean;
  default_branch: string;
  branches: Record<string, string>;
  tags: Record<string, string>;
  commits: string[];
  collaborators: Record<string, number>;
  created: number;
  updated: number;
  git_dir?: string;
}
interface PullRec {
  id: number;
  head_repo_id: number;
  head_branch: string;
  head_sha: string;
  base_branch: string;
  merge_base: string;
  merged: boolean;
  merged_at: number;
  mergeable: boolean;
  additions?: number;
  deletions?: number;
  changed_files?: number;
}
interface IssueRec {
  id: number;
  repo_id: number;
  index: number;
  poster_id: number;
  title: string;
  body: string;
  closed: boolean;
  locked: boolean;
  created: number;
  updated: number;
  closed_at: number;
  num_comments: number;
  pull?: PullRec;
}
interface CommentRec {
  id: number;
  issue_id: number;
  poster_id: number;
  body: string;
  created: number;
  updated: number;
}
interface StatusRec {
  id: number;
  index: number;
  repo_id: number;
  sha: string;
  state: string;
  target_url: string;
  description: string;
  context: string;
  creator_id: number;
  created: number;
}
interface State {
  format: 1;
  version: string;
  seq: { user: number; repo: number; issue: number; pull: number; comment: number; status: number };
  users: UserRec[];
  tokens: { uid: number; sha256: string }[];
  repos: RepoRec[];
  issues: IssueRec[];
  comments: CommentRec[];
  statuses: StatusRec[];
}

const NONE = 0,
  READ = 1,
  WRITE = 2,
  ADMIN = 3,
  OWNER = 4;
const PAGING_DEFAULT = 30,
  PAGING_MAX = 50;
const STATES = ['pending', 'success', 'error', 'failure', 'warning'];
const PRIORITY: Record<string, number> = { error: 0, failure: 1, warning: 2, pending: 3, success: 4 };

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
const lc = (s: string): string => s.toLowerCase();
const unix = (d: Date): number => Math.floor(d.getTime() / 1000);
const fakeSha = (...parts: string[]): string => createHash('sha1').update(parts.join('\0')).digest('hex');

// ---- state file ----

function writeAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function seedGitea(statePath: string, seed: GiteaSeed, now: Date = new Date()): void {
  const t = unix(now);
  const st: State = {
    format: 1,
    version: seed.version ?? '1.22.6',
    seq: { user: 0, repo: 0, issue: 0, pull: 0, comment: 0, status: 0 },
    users: [],
    tokens: [],
    repos: [],
    issues: [],
    comments: [],
    statuses: [],
  };
  const user = (login: string, what: string): UserRec => {
    const u = st.users.find((x) => lc(x.login) === lc(login));
    if (!u) throw new Error(`gitea seed: ${what}: no user or org '${login}'`);
    return u;
  };
  const addName = (login: string): number => {
    if (!/^[\w.-]+$/.test(login)) throw new Error(`gitea seed: invalid name '${login}'`);
    if (st.users.some((x) => lc(x.login) === lc(login))) throw new Error(`gitea seed: duplicate user or org '${login}'`);
    return ++st.seq.user;
  };
  for (const u of seed.users) {
    const id = addName(u.login);
    st.users.push({
      id,
      login: u.login,
      org: false,
      full_name: u.full_name ?? '',
      email: u.email ?? `${lc(u.login)}@lab.test`,
      admin: u.admin ?? false,
      keep_email_private: u.keep_email_private ?? false,
      visibility: 'public',
      created: t,
    });
    for (const tok of [...(u.token ? [u.token] : []), ...(u.tokens ?? [])]) st.tokens.push({ uid: id, sha256: tokenHash(tok) });
  }
  for (const o of seed.orgs ?? []) {
    const id = addName(o.name);
    const names = [...new Set([...(o.owners ?? []), ...(o.members ?? [])])];
    const members = names.map((n) => ({ uid: user(n, `org ${o.name}`).id, public: (o.public_members ?? []).includes(n), owner: (o.owners ?? []).includes(n) }));
    st.users.push({
      id,
      login: o.name,
      org: true,
      full_name: o.full_name ?? '',
      email: o.email ?? '',
      admin: false,
      keep_email_private: false,
      visibility: o.visibility ?? 'public',
      created: t,
      members,
    });
  }
  const pending: [RepoRec, SeedPull, PullRec][] = [];
  for (const r of seed.repos ?? []) {
    const owner = user(r.owner, `repo ${r.owner}/${r.name}`);
    if (st.repos.some((x) => x.owner_id === owner.id && lc(x.name) === lc(r.name))) throw new Error(`gitea seed: duplicate repo ${r.owner}/${r.name}`);
    const def = r.default_branch ?? 'main';
    const repo: RepoRec = {
      id: ++st.seq.repo,
      owner_id: owner.id,
      name: r.name,
      description: r.description ?? '',
      private: r.private ?? false,
      archived: r.archived ?? false,
      default_branch: def,
      branches: { [def]: fakeSha(r.owner, r.name, def), ...r.branches },
      tags: { ...r.tags },
      commits: [...(r.commits ?? [])],
      collaborators: {},
      created: t,
      updated: t,
      ...(r.gitDir ? { git_dir: r.gitDir } : {}),
    };
    for (const [n, m] of Object.entries(r.collaborators ?? {}))
      repo.collaborators[String(user(n, 'collaborator').id)] = m === 'admin' ? ADMIN : m === 'write' ? WRITE : READ;
    st.repos.push(repo);
    const used = new Set([...(r.issues ?? []), ...(r.pulls ?? [])].map((i) => i.number).filter((n): n is number => n !== undefined));
    let next = 1;
    const index = (n?: number): number => {
      if (n !== undefined) return n;
      while (used.has(next)) next++;
      used.add(next);
      return next;
    };
    for (const i of r.issues ?? []) {
      const closed = i.state === 'closed';
      st.issues.push({
        id: ++st.seq.issue,
        repo_id: repo.id,
        index: index(i.number),
        poster_id: user(i.user, 'issue').id,
        title: i.title,
        body: i.body ?? '',
        closed,
        locked: i.locked ?? false,
        created: t,
        updated: t,
        closed_at: closed ? t : 0,
        num_comments: 0,
      });
    }
    for (const p of r.pulls ?? []) {
      if (!/^[0-9a-f]{40}$/.test(p.head.sha)) throw new Error(`gitea seed: PR '${p.title}': head.sha must be 40 lowercase hex`);
      const closed = p.state === 'closed' || (p.merged ?? false);
      const issue: IssueRec = {
        id: ++st.seq.issue,
        repo_id: repo.id,
        index: index(p.number),
        poster_id: user(p.user, 'pull').id,
        title: p.title,
        body: p.body ?? '',
        closed,
        locked: p.locked ?? false,
        created: t,
        updated: t,
        closed_at: closed ? t : 0,
        num_comments: 0,
      };
      if (p.base.sha) repo.branches[p.base.ref] = p.base.sha;
      repo.branches[p.base.ref] ??= fakeSha(r.owner, r.name, p.base.ref);
      issue.pull = {
        id: ++st.seq.pull,
        head_repo_id: repo.id,
        head_branch: p.head.ref,
        head_sha: p.head.sha,
        base_branch: p.base.ref,
        merge_base: repo.branches[p.base.ref]!,
        merged: p.merged ?? false,
        merged_at: p.merged ? t : 0,
        mergeable: p.mergeable ?? true,
        additions: p.additions,
        deletions: p.deletions,
        changed_files: p.changed_files,
      };
      st.issues.push(issue);
      pending.push([repo, p, issue.pull]);
    }
  }
  for (const [repo, p, pull] of pending) {
    let head = repo;
    if (p.head.repo) {
      const [o, n] = p.head.repo.split('/');
      const owner = st.users.find((u) => lc(u.login) === lc(o ?? ''));
      const found = st.repos.find((x) => x.owner_id === owner?.id && lc(x.name) === lc(n ?? ''));
      if (!found) throw new Error(`gitea seed: PR '${p.title}': head repo ${p.head.repo} is not seeded`);
      head = found;
    }
    pull.head_repo_id = head.id;
    head.branches[p.head.ref] = p.head.sha;
  }
  writeAtomic(statePath, `${JSON.stringify(st, null, 1)}\n`);
}

// ---- formatting ----

const pad = (n: number): string => String(n).padStart(2, '0');
function rfc3339(t: number): string {
  const d = new Date(t * 1000);
  const off = -d.getTimezoneOffset();
  const s = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  return off === 0 ? `${s}Z` : `${s}${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}
const ZERO_TIME = '0001-01-01T00:00:00Z';
// Go's encoding/json escapes <, >, & and U+2028/9 inside strings.
const goJson = (v: unknown): string => `${JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
const goQueryEscape = (s: string): string =>
  encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
function goQueryEncode(q: URLSearchParams): string {
  return [...new Set(q.keys())]
    .sort()
    .flatMap((k) => q.getAll(k).map((v) => `${goQueryEscape(k)}=${goQueryEscape(v)}`))
    .join('&');
}
const goAtoi = (s: string | null): number => (s !== null && /^[+-]?\d+$/.test(s) ? Number(s) : 0);

// ---- server ----

class HttpDone extends Error {}
interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  rawPath: string;
  body: string;
  params: Record<string, string>;
  doer?: UserRec;
}
type Handler = (c: Ctx) => void;
interface Route {
  method: string;
  key: string;
  parts: string[];
  h: Handler;
}

export async function startGitea(opts: GiteaOptions): Promise<RunningGitea> {
  const log = opts.log ?? (() => undefined);
  const now = (): number => unix(opts.now?.() ?? new Date());
  let st = JSON.parse(readFileSync(opts.statePath, 'utf8')) as State;
  if (st.format !== 1) throw new Error(`gitea: ${opts.statePath}: unknown state format`);
  const fileStamp = (): string => {
    const s = statSync(opts.statePath);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  };
  let stamp = fileStamp();
  const save = (): void => {
    writeAtomic(opts.statePath, `${JSON.stringify(st, null, 1)}\n`);
    stamp = fileStamp();
  };
  const reloadIfChanged = (): void => {
    const s = fileStamp();
    if (s !== stamp) {
      st = JSON.parse(readFileSync(opts.statePath, 'utf8')) as State;
      stamp = s;
    }
  };

  let appUrl = '';
  const swagger = (): string => `${appUrl}api/swagger`;
  const hostName = (): string => new URL(appUrl).hostname;

  // -- responses (services/context/base.go, api.go) --
  const send = (c: Ctx, status: number, body?: string | Buffer, type?: string): never => {
    if (type) c.res.setHeader('Content-Type', type);
    c.res.statusCode = status;
    c.res.end(c.req.method === 'HEAD' ? undefined : body);
    throw new HttpDone();
  };
  const json = (c: Ctx, status: number, v: unknown): never => send(c, status, goJson(v), 'application/json;charset=utf-8');
  const apiError = (c: Ctx, status: number, message: string): never =>
    json(c, status, { message: status === 500 && !c.doer?.admin ? '' : message, url: swagger() });
  const notFound = (c: Ctx, ...objs: (string | Error)[]): never => {
    let message = "The target couldn't be found.";
    let errors: string[] | null = null;
    for (const o of objs) {
      if (o instanceof Error) (errors ??= []).push(o.message);
      else message = o;
    }
    return json(c, 404, { errors, message, url: swagger() });
  };
  const status = (c: Ctx, code: number): never => send(c, code);
  const exposeHeader = (c: Ctx, h: string): void => {
    const cur = c.res.getHeader('Access-Control-Expose-Headers');
    c.res.setHeader('Access-Control-Expose-Headers', cur ? `${String(cur)}, ${h}` : h);
  };
  const setTotal = (c: Ctx, n: number): void => {
    c.res.setHeader('X-Total-Count', String(n));
    exposeHeader(c, 'X-Total-Count');
  };
  const setLinks = (c: Ctx, total: number, pageSize: number): void => {
    const size = pageSize <= 0 ? 1 : pageSize;
    const pages = total === 0 ? 1 : Math.ceil(total / size);
    let cur = goAtoi(c.url.searchParams.get('page'));
    if (cur <= 0) cur = 1;
    if (cur > pages) cur = pages;
    const hasNext = total > cur * size;
    const isLast = total === 0 || (total > (cur - 1) * size && !hasNext);
    const link = (page: number, rel: string): string => {
      const q = new URLSearchParams(c.url.search);
      q.set('page', String(page));
      return `<${appUrl}${c.rawPath.slice(1)}?${goQueryEncode(q)}>; rel="${rel}"`;
    };
    const links = [
      ...(hasNext ? [link(cur + 1, 'next')] : []),
      ...(!isLast ? [link(pages, 'last')] : []),
      ...(cur !== 1 ? [link(1, 'first')] : []),
      ...(cur > 1 ? [link(cur - 1, 'prev')] : []),
    ];
    if (links.length > 0) {
      c.res.setHeader('Link', links.join(','));
      exposeHeader(c, 'Link');
    }
  };
  const listOptions = (c: Ctx): { page: number; size: number } => {
    const limit = goAtoi(c.url.searchParams.get('limit'));
    return { page: goAtoi(c.url.searchParams.get('page')), size: limit <= 0 ? PAGING_DEFAULT : Math.min(limit, PAGING_MAX) };
  };
  const paginate = <T>(items: T[], page: number, size: number): T[] => items.slice((Math.max(page, 1) - 1) * size, Math.max(page, 1) * size);
  const formTrim = (c: Ctx, k: string): string => (c.url.searchParams.get(k) ?? '').trim();

  // -- model helpers --
  const userById = (id: number): UserRec | undefined => st.users.find((u) => u.id === id);
  const userByName = (name: string): UserRec | undefined => st.users.find((u) => lc(u.login) === lc(name));
  const isMember = (org: UserRec, uid: number): boolean => (org.members ?? []).some((m) => m.uid === uid);
  const repoPath = (r: RepoRec): string => `${userById(r.owner_id)!.login}/${r.name}`;
  const repoApiUrl = (r: RepoRec): string => `${appUrl}api/v1/repos/${repoPath(r).split('/').map(encodeURIComponent).join('/')}`;
  const repoHtmlUrl = (r: RepoRec): string => `${appUrl}${repoPath(r).split('/').map(encodeURIComponent).join('/')}`;
  const accessMode = (r: RepoRec, doer?: UserRec): number => {
    const pub = r.private ? NONE : READ;
    if (!doer) return pub;
    if (doer.admin || doer.id === r.owner_id) return OWNER;
    const owner = userById(r.owner_id)!;
    const m = owner.org ? (owner.members ?? []).find((x) => x.uid === doer.id) : undefined;
    return Math.max(pub, m ? (m.owner ? OWNER : WRITE) : NONE, r.collaborators[String(doer.id)] ?? NONE);
  };

  const toUser = (u: UserRec, doer?: UserRec, signed = doer !== undefined): Record<string, unknown> => {
    const authed = doer !== undefined && (doer.id === u.id || doer.admin);
    return {
      id: u.id,
      login: u.login,
      login_name: '',
      source_id: 0,
      full_name: u.full_name,
      email: signed && (!u.keep_email_private || authed) ? u.email : `${lc(u.login)}@noreply.${hostName()}`,
      avatar_url: `${appUrl}avatars/${createHash('md5').update(lc(u.login)).digest('hex')}`,
      html_url: `${appUrl}${encodeURIComponent(u.login)}`,
      language: authed ? 'en-US' : '',
      is_admin: authed ? u.admin : false,
      last_login: authed ? rfc3339(0) : ZERO_TIME,
      created: rfc3339(u.created),
      restricted: false,
      active: authed,
      prohibit_login: false,
      location: '',
      website: '',
      description: '',
      visibility: u.visibility,
      followers_count: 0,
      following_count: 0,
      starred_repos_count: 0,
      username: u.login,
    };
  };
  const toRepo = (r: RepoRec, mode: number): Record<string, unknown> => {
    const owner = userById(r.owner_id)!;
    const issues = st.issues.filter((i) => i.repo_id === r.id && !i.closed);
    return {
      id: r.id,
      owner: toUser(owner, undefined, mode !== NONE),
      name: r.name,
      full_name: repoPath(r),
      description: r.description,
      empty: Object.keys(r.branches).length === 0,
      private: r.private,
      fork: false,
      template: false,
      parent: null,
      mirror: false,
      size: 0,
      language: '',
      languages_url: `${repoApiUrl(r)}/languages`,
      html_url: repoHtmlUrl(r),
      url: repoApiUrl(r),
      link: `/${repoPath(r)}`,
      ssh_url: `git@${hostName()}:${repoPath(r)}.git`,
      clone_url: `${repoHtmlUrl(r)}.git`,
      original_url: '',
      website: '',
      stars_count: 0,
      forks_count: 0,
      watchers_count: 0,
      open_issues_count: issues.filter((i) => !i.pull).length,
      open_pr_counter: issues.filter((i) => i.pull).length,
      release_counter: 0,
      default_branch: r.default_branch,
      archived: r.archived,
      created_at: rfc3339(r.created),
      updated_at: rfc3339(r.updated),
      archived_at: rfc3339(0),
      permissions: { admin: mode >= ADMIN, push: mode >= WRITE, pull: mode >= READ },
      has_issues: true,
      internal_tracker: { enable_time_tracker: true, allow_only_contributors_to_track_time: true, enable_issue_dependencies: true },
      has_wiki: true,
      has_pull_requests: true,
      has_projects: true,
      projects_mode: 'all',
      has_releases: true,
      has_packages: true,
      has_actions: true,
      ignore_whitespace_conflicts: false,
      allow_merge_commits: true,
      allow_rebase: true,
      allow_rebase_explicit: true,
      allow_squash_merge: true,
      allow_fast_forward_only_merge: false,
      allow_rebase_update: true,
      default_delete_branch_after_merge: false,
      default_merge_style: 'merge',
      default_allow_maintainer_edit: false,
      avatar_url: '',
      internal: false,
      mirror_interval: '',
      object_format_name: 'sha1',
      mirror_updated: ZERO_TIME,
      repo_transfer: null,
    };
  };
  const issueHtmlUrl = (i: IssueRec): string => `${repoHtmlUrl(st.repos.find((r) => r.id === i.repo_id)!)}/${i.pull ? 'pulls' : 'issues'}/${i.index}`;
  const toComment = (cm: CommentRec): Record<string, unknown> => {
    const issue = st.issues.find((i) => i.id === cm.issue_id)!;
    const html = issueHtmlUrl(issue);
    return {
      id: cm.id,
      html_url: `${html}#issuecomment-${cm.id}`,
      pull_request_url: issue.pull ? html : '',
      issue_url: issue.pull ? '' : html,
      user: toUser(userById(cm.poster_id)!),
      original_author: '',
      original_author_id: 0,
      body: cm.body,
      assets: [],
      created_at: rfc3339(cm.created),
      updated_at: rfc3339(cm.updated),
    };
  };
  // 1.22 added draft, review_comments, additions, deletions and changed_files (reference §3).
  const since122 = (): boolean => !st.version.startsWith('1.21.');
  const isWip = (i: IssueRec): boolean => /^(wip:|\[wip\])/i.test(i.title);
  const toPull = (i: IssueRec, doer: UserRec | undefined): Record<string, unknown> => {
    const p = i.pull!;
    const base = st.repos.find((r) => r.id === i.repo_id)!;
    const head = st.repos.find((r) => r.id === p.head_repo_id) ?? base;
    const html = issueHtmlUrl(i);
    const headSha = head.branches[p.head_branch];
    return {
      id: p.id,
      url: html,
      number: i.index,
      user: toUser(userById(i.poster_id)!),
      title: i.title,
      body: i.body,
      labels: [],
      milestone: null,
      assignee: null,
      assignees: null,
      requested_reviewers: null,
      state: i.closed ? 'closed' : 'open',
      ...(since122() ? { draft: isWip(i) } : {}),
      is_locked: i.locked,
      comments: i.num_comments,
      ...(since122() ? { review_comments: 0, additions: p.additions ?? 0, deletions: p.deletions ?? 0, changed_files: p.changed_files ?? 0 } : {}),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      mergeable: p.mergeable && !isWip(i),
      merged: p.merged,
      merged_at: p.merged ? rfc3339(p.merged_at) : null,
      merge_commit_sha: p.merged ? fakeSha('merge', String(p.id)) : null,
      merged_by: null,
      allow_maintainer_edit: false,
      base: { label: p.base_branch, ref: p.base_branch, sha: base.branches[p.base_branch] ?? '', repo_id: base.id, repo: toRepo(base, accessMode(base, doer)) },
      head: {
        label: p.head_branch,
        ref: headSha ? p.head_branch : `refs/pull/${i.index}/head`,
        sha: headSha ?? p.head_sha,
        repo_id: head.id,
        repo: toRepo(head, accessMode(head, doer)),
      },
      merge_base: p.merge_base,
      due_date: null,
      created_at: rfc3339(i.created),
      updated_at: rfc3339(i.updated),
      closed_at: i.closed ? rfc3339(i.closed_at) : null,
      pin_order: 0,
    };
  };
  const toStatus = (s: StatusRec): Record<string, unknown> => {
    const creator = userById(s.creator_id);
    const repo = st.repos.find((r) => r.id === s.repo_id)!;
    return {
      id: s.index,
      status: s.state,
      target_url: s.target_url,
      description: s.description,
      url: `${repoApiUrl(repo)}/statuses/${encodeURIComponent(s.sha)}`,
      context: s.context,
      creator: creator ? toUser(creator) : null,
      created_at: rfc3339(s.created),
      updated_at: rfc3339(s.created),
    };
  };

  // -- middleware (routers/api/v1/api.go) --
  const reqToken = (c: Ctx): UserRec => c.doer ?? apiError(c, 401, 'token is required');
  const orgAssignment = (c: Ctx): UserRec => {
    const org = userByName(c.params.org!);
    if (!org?.org) return notFound(c, 'GetOrgByName', new Error(`org does not exist [id: 0, name: ${c.params.org}]`));
    return org;
  };
  const repoAssignment = (c: Ctx): { repo: RepoRec; mode: number } => {
    const owner = userByName(c.params.owner!);
    if (!owner) return notFound(c, 'GetUserByName', new Error(`user does not exist [uid: 0, name: ${c.params.owner}]`));
    const repo = st.repos.find((r) => r.owner_id === owner.id && lc(r.name) === lc(c.params.repo!));
    if (!repo) return notFound(c);
    const mode = accessMode(repo, c.doer);
    if (mode === NONE) return notFound(c);
    return { repo, mode };
  };
  const bind = (c: Ctx, name: string, fields: string[]): Record<string, string> => {
    const ct = c.req.headers['content-type'] ?? '';
    let raw: Record<string, unknown> = {};
    if (ct.includes('form-urlencoded')) raw = Object.fromEntries(new URLSearchParams(c.body));
    else if (ct.includes('json')) {
      try {
        raw = c.body.trim() === '' ? {} : (JSON.parse(c.body) as Record<string, unknown>);
      } catch (e) {
        return apiError(c, 422, `[]: ${(e as Error).message}`);
      }
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        return apiError(c, 422, `[]: json: cannot unmarshal ${Array.isArray(raw) ? 'array' : typeof raw} into Go value of type structs.${name}`);
    } else return apiError(c, 422, `[]: ${ct ? 'Unsupported Content-Type' : 'Empty Content-Type'}`);
    const out: Record<string, string> = {};
    for (const f of fields) {
      const v = raw[f];
      if (v === undefined || v === null) out[f] = '';
      else if (typeof v === 'string') out[f] = v;
      else
        return apiError(
          c,
          422,
          `[]: json: cannot unmarshal ${typeof v === 'object' ? (Array.isArray(v) ? 'array' : 'object') : typeof v} into Go struct field ${name}.${f} of type ${f === 'state' ? 'structs.CommitStatusState' : 'string'}`,
        );
    }
    return out;
  };
  const parseFormTime = (c: Ctx, k: string): number => {
    const v = formTrim(c, k);
    if (!v) return 0;
    const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(ms)) return apiError(c, 422, `parsing time "${v}" as "2006-01-02T15:04:05Z07:00": cannot parse "${v}" as "2006"`);
    return Math.floor(ms / 1000);
  };
  const issueByIndex = (c: Ctx, repo: RepoRec): IssueRec => {
    const index = goAtoi(c.params.index!);
    return (
      st.issues.find((i) => i.repo_id === repo.id && i.index === index) ??
      apiError(c, 500, `issue does not exist [id: 0, repo_id: ${repo.id}, index: ${index}]`)
    );
  };
  const commentById = (c: Ctx, repo: RepoRec): CommentRec => {
    const id = goAtoi(c.params.id!);
    const cm = st.comments.find((x) => x.id === id) ?? notFound(c, new Error(`comment does not exist [id: ${id}, issue_id: 0]`));
    if (st.issues.find((i) => i.id === cm.issue_id)?.repo_id !== repo.id) return status(c, 404);
    return cm;
  };
  // utils.ResolveRefOrSha (reference §5): a branch, then a tag, then a full or short sha of a known commit.
  const resolveCommit = (repo: RepoRec, ref: string): string | undefined => {
    if (Object.hasOwn(repo.branches, ref)) return repo.branches[ref];
    if (Object.hasOwn(repo.tags, ref)) return repo.tags[ref];
    const known = new Set([
      ...Object.values(repo.branches),
      ...Object.values(repo.tags),
      ...repo.commits,
      ...st.issues.filter((i) => i.pull && (i.repo_id === repo.id || i.pull.head_repo_id === repo.id)).map((i) => i.pull!.head_sha),
    ]);
    if (/^[0-9a-f]{40}$/.test(ref)) return known.has(ref) ? ref : undefined;
    if (/^[0-9a-f]{4,39}$/.test(ref)) {
      const hits = [...known].filter((s) => s.startsWith(ref));
      return hits.length === 1 ? hits[0] : undefined;
    }
    return undefined;
  };
  const combine = (list: StatusRec[]): string => {
    let state = '';
    for (const s of list) {
      const a = PRIORITY[s.state],
        b = PRIORITY[state];
      if (state === '' || (a !== undefined && b !== undefined && a <= b)) state = s.state;
    }
    return state === 'error' ? 'failure' : state;
  };

  // -- handlers --
  const listStatuses = (c: Ctx, repo: RepoRec, sha: string): void => {
    const lo = listOptions(c);
    const state = formTrim(c, 'state');
    const sort = formTrim(c, 'sort');
    const list = st.statuses.filter((s) => s.repo_id === repo.id && s.sha === sha && (!STATES.includes(state) || s.state === state));
    const by: Record<string, (a: StatusRec, b: StatusRec) => number> = {
      oldest: (a, b) => a.created - b.created || a.index - b.index,
      leastupdate: (a, b) => a.created - b.created || a.index - b.index,
      leastindex: (a, b) => b.index - a.index,
      highestindex: (a, b) => a.index - b.index,
    };
    list.sort(by[sort] ?? ((a, b) => b.created - a.created || b.index - a.index));
    setLinks(c, list.length, lo.size);
    setTotal(c, list.length);
    json(c, 200, paginate(list, lo.page, lo.size).map(toStatus));
  };

  const routes: Route[] = [];
  const on = (method: string, path: string, h: Handler): void => void routes.push({ method, key: path, parts: path.split('/').slice(1), h });

  on('GET', '/version', (c) => json(c, 200, { version: st.version }));
  on('GET', '/user', (c) => {
    const doer = reqToken(c);
    json(c, 200, toUser(doer, doer));
  });
  on('GET', '/users/{username}', (c) => {
    const u = userByName(c.params.username!) ?? notFound(c, 'GetUserByName', new Error(`user does not exist [uid: 0, name: ${c.params.username}]`));
    json(c, 200, toUser(u, c.doer));
  });
  const memberList = (c: Ctx, org: UserRec, publicOnly: boolean): void => {
    const lo = listOptions(c);
    const members = (org.members ?? []).filter((m) => !publicOnly || m.public);
    const page = paginate(members, lo.page, lo.size)
      .map((m) => userById(m.uid)!)
      .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
    setTotal(c, members.length);
    json(
      c,
      200,
      page.map((u) => toUser(u, c.doer)),
    );
  };
  on('GET', '/orgs/{org}/members', (c) => {
    const org = orgAssignment(c);
    const doer = reqToken(c);
    memberList(c, org, !isMember(org, doer.id) && !doer.admin);
  });
  on('GET', '/orgs/{org}/public_members', (c) => memberList(c, orgAssignment(c), true));
  on('GET', '/orgs/{org}/members/{username}', (c) => {
    const org = orgAssignment(c);
    const doer = reqToken(c);
    const target = userByName(c.params.username!) ?? notFound(c, 'GetUserByName', new Error(`user does not exist [uid: 0, name: ${c.params.username}]`));
    if (isMember(org, doer.id) || doer.admin) return isMember(org, target.id) ? status(c, 204) : notFound(c);
    if (doer.id === target.id) return notFound(c);
    const loc = `/api/v1/orgs/${encodeURIComponent(org.login)}/public_members/${encodeURIComponent(target.login)}`;
    c.res.setHeader('Location', loc);
    return send(c, 303, `<a href="${loc}">See Other</a>.\n\n`, 'text/html; charset=utf-8');
  });
  on('GET', '/orgs/{org}/public_members/{username}', (c) => {
    const org = orgAssignment(c);
    const target = userByName(c.params.username!) ?? notFound(c, 'GetUserByName', new Error(`user does not exist [uid: 0, name: ${c.params.username}]`));
    return (org.members ?? []).some((m) => m.uid === target.id && m.public) ? status(c, 204) : notFound(c);
  });
  on('GET', '/repos/{owner}/{repo}', (c) => {
    const { repo, mode } = repoAssignment(c);
    json(c, 200, toRepo(repo, mode));
  });
  on('GET', '/repos/{owner}/{repo}/pulls', (c) => {
    const { repo } = repoAssignment(c);
    const lo = listOptions(c);
    const state = formTrim(c, 'state');
    const sort = formTrim(c, 'sort');
    const list = st.issues.filter((i) => i.repo_id === repo.id && i.pull && (state === 'open' ? !i.closed : state === 'closed' ? i.closed : true));
    const by: Record<string, (a: IssueRec, b: IssueRec) => number> = {
      oldest: (a, b) => a.created - b.created || a.id - b.id,
      recentupdate: (a, b) => b.updated - a.updated || b.id - a.id,
      leastupdate: (a, b) => a.updated - b.updated || a.id - b.id,
      mostcomment: (a, b) => b.num_comments - a.num_comments || b.id - a.id,
      leastcomment: (a, b) => a.num_comments - b.num_comments || a.id - b.id,
    };
    list.sort(by[sort] ?? ((a, b) => b.created - a.created || b.id - a.id));
    setLinks(c, list.length, lo.size);
    setTotal(c, list.length);
    json(
      c,
      200,
      paginate(list, lo.page, lo.size).map((i) => toPull(i, c.doer)),
    );
  });
  on('GET', '/repos/{owner}/{repo}/pulls/{index}', (c) => {
    const { repo } = repoAssignment(c);
    const index = goAtoi(c.params.index!);
    const issue = st.issues.find((i) => i.repo_id === repo.id && i.index === index && i.pull) ?? notFound(c);
    json(c, 200, toPull(issue, c.doer));
  });
  on('GET', '/repos/{owner}/{repo}/issues/comments', (c) => {
    const { repo } = repoAssignment(c);
    const before = parseFormTime(c, 'before');
    const since = parseFormTime(c, 'since');
    const lo = listOptions(c);
    const ids = new Set(st.issues.filter((i) => i.repo_id === repo.id).map((i) => i.id));
    const list = st.comments
      .filter((cm) => ids.has(cm.issue_id) && (!since || cm.updated >= since) && (!before || cm.updated <= before))
      .sort((a, b) => a.created - b.created || a.id - b.id);
    setTotal(c, list.length);
    json(c, 200, (lo.page !== 0 ? paginate(list, lo.page, lo.size) : list).map(toComment));
  });
  on('GET', '/repos/{owner}/{repo}/issues/comments/{id}', (c) => {
    const { repo } = repoAssignment(c);
    json(c, 200, toComment(commentById(c, repo)));
  });
  on('PATCH', '/repos/{owner}/{repo}/issues/comments/{id}', (c) => {
    const { repo, mode } = repoAssignment(c);
    if (repo.archived) return apiError(c, 423, `<Repository ${repo.id}:${repoPath(repo)}> is archived`);
    const doer = reqToken(c);
    const form = bind(c, 'EditIssueCommentOption', ['body']);
    if (form.body === '') return apiError(c, 422, '[Body]: Required');
    const cm = commentById(c, repo);
    if (doer.id !== cm.poster_id && mode < WRITE) return status(c, 403);
    if (form.body !== cm.body) {
      cm.body = form.body!;
      cm.updated = now();
      save();
    }
    json(c, 200, toComment(cm));
  });
  on('DELETE', '/repos/{owner}/{repo}/issues/comments/{id}', (c) => {
    const { repo, mode } = repoAssignment(c);
    const doer = reqToken(c);
    const cm = commentById(c, repo);
    if (doer.id !== cm.poster_id && mode < WRITE) return status(c, 403);
    st.comments = st.comments.filter((x) => x.id !== cm.id);
    const issue = st.issues.find((i) => i.id === cm.issue_id)!;
    issue.num_comments = Math.max(0, issue.num_comments - 1);
    save();
    return status(c, 204);
  });
  on('GET', '/repos/{owner}/{repo}/issues/{index}/comments', (c) => {
    const { repo } = repoAssignment(c);
    const before = parseFormTime(c, 'before');
    const since = parseFormTime(c, 'since');
    const issue = issueByIndex(c, repo);
    const list = st.comments
      .filter((cm) => cm.issue_id === issue.id && (!since || cm.updated >= since) && (!before || cm.updated <= before))
      .sort((a, b) => a.created - b.created || a.id - b.id);
    setTotal(c, list.length);
    json(c, 200, list.map(toComment));
  });
  on('POST', '/repos/{owner}/{repo}/issues/{index}/comments', (c) => {
    const { repo, mode } = repoAssignment(c);
    const doer = reqToken(c);
    if (repo.archived) return apiError(c, 423, `<Repository ${repo.id}:${repoPath(repo)}> is archived`);
    const form = bind(c, 'CreateIssueCommentOption', ['body']);
    if (form.body === '') return apiError(c, 422, '[Body]: Required');
    const issue = issueByIndex(c, repo);
    if (issue.locked && mode < WRITE && !doer.admin) return apiError(c, 403, 'You cannot comment on a locked issue.');
    const t = now();
    const cm: CommentRec = { id: ++st.seq.comment, issue_id: issue.id, poster_id: doer.id, body: form.body!, created: t, updated: t };
    st.comments.push(cm);
    issue.num_comments++;
    issue.updated = t;
    save();
    json(c, 201, toComment(cm));
  });
  on('GET', '/repos/{owner}/{repo}/statuses/{sha}', (c) => {
    const { repo } = repoAssignment(c);
    listStatuses(c, repo, resolveCommit(repo, c.params.sha!) ?? c.params.sha!);
  });
  on('POST', '/repos/{owner}/{repo}/statuses/{sha}', (c) => {
    const { repo, mode } = repoAssignment(c);
    const doer = reqToken(c);
    if (mode < WRITE) return apiError(c, 403, 'user should have a permission to write to a repo');
    const form = bind(c, 'CreateStatusOption', ['state', 'target_url', 'description', 'context']);
    const sha = resolveCommit(repo, c.params.sha!) ?? apiError(c, 500, `GetCommit[${c.params.sha}]: object does not exist [id: ${c.params.sha}, rel_path: ]`);
    const t = now();
    const index = st.statuses.filter((s) => s.repo_id === repo.id && s.sha === sha).reduce((m, s) => Math.max(m, s.index), 0) + 1;
    const s: StatusRec = {
      id: ++st.seq.status,
      index,
      repo_id: repo.id,
      sha,
      state: form.state!,
      target_url: form.target_url!.trim(),
      description: form.description!.trim(),
      context: form.context!.trim(),
      creator_id: doer.id,
      created: t,
    };
    st.statuses.push(s);
    save();
    json(c, 201, toStatus(s));
  });
  on('GET', '/repos/{owner}/{repo}/commits/{ref}/statuses', (c) => {
    const { repo } = repoAssignment(c);
    listStatuses(c, repo, resolveCommit(repo, c.params.ref!) ?? c.params.ref!);
  });
  on('GET', '/repos/{owner}/{repo}/commits/{ref}/status', (c) => {
    const { repo, mode } = repoAssignment(c);
    const sha = resolveCommit(repo, c.params.ref!) ?? c.params.ref!;
    const lo = listOptions(c);
    const latest = new Map<string, StatusRec>();
    for (const s of st.statuses) if (s.repo_id === repo.id && s.sha === sha && (latest.get(s.context)?.index ?? 0) < s.index) latest.set(s.context, s);
    const all = [...latest.values()];
    const page = new Set(
      paginate(
        [...all].sort((a, b) => b.index - a.index),
        lo.page,
        lo.size,
      ),
    );
    const list = all.filter((s) => page.has(s)).sort((a, b) => a.id - b.id);
    if (list.length === 0) return json(c, 200, { state: '', sha: '', total_count: 0, statuses: null, repository: null, commit_url: '', url: '' });
    setTotal(c, all.length);
    return json(c, 200, {
      state: combine(list),
      sha,
      total_count: list.length,
      statuses: list.map(toStatus),
      repository: toRepo(repo, mode),
      commit_url: '',
      url: '',
    });
  });

  // GET /repos/{owner}/{repo}/raw/{filepath} (routers/api/v1/repo/file.go GetRawFile): the file at
  // ?ref= (a commit, branch or tag; default: the default branch), as stored.
  on('GET', '/repos/{owner}/{repo}/raw/{filepath*}', (c) => {
    const { repo } = repoAssignment(c);
    const ref = formTrim(c, 'ref') || repo.default_branch;
    if (!repo.git_dir) return notFound(c);
    const git = (...args: string[]) => spawnSync('git', ['-C', repo.git_dir!, ...args], { maxBuffer: 64 * 1024 * 1024 });
    const commit = git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
    if (commit.status !== 0) return notFound(c, new Error(`object does not exist [id: ${ref}, rel_path: ]`));
    const blob = git('cat-file', 'blob', `${commit.stdout.toString().trim()}:${c.params.filepath}`);
    if (blob.status !== 0) return notFound(c, new Error(`object does not exist [id: , rel_path: ${c.params.filepath}]`));
    c.res.setHeader('Content-Length', String(blob.stdout.length));
    return send(c, 200, blob.stdout, 'text/plain; charset=utf-8');
  });

  const match = (parts: string[]): { key: string; params: Record<string, string> } | undefined => {
    let best: { key: string; params: Record<string, string>; score: number } | undefined;
    for (const r of routes) {
      const params: Record<string, string> = {};
      let score = 0;
      const rest = r.parts.at(-1)?.endsWith('*}');
      if (rest ? parts.length < r.parts.length : r.parts.length !== parts.length) continue;
      const ok = r.parts.every((p, i) => {
        if (p.endsWith('*}')) {
          params[p.slice(1, -2)] = parts.slice(i).join('/');
          return parts[i] !== '';
        }
        if (!p.startsWith('{')) {
          score += 2 ** (parts.length - i);
          return p === parts[i];
        }
        params[p.slice(1, -1)] = parts[i]!;
        return parts[i] !== '';
      });
      if (ok && (!best || score > best.score)) best = { key: r.key, params, score };
    }
    return best;
  };

  // -- auth (services/auth: OAuth2 token, then Basic) --
  const authenticate = (req: http.IncomingMessage, url: URL): { user?: UserRec; error?: string } => {
    const byToken = (tok: string): UserRec | undefined => {
      const h = tokenHash(tok);
      const t = st.tokens.find((x) => x.sha256 === h);
      return t ? userById(t.uid) : undefined;
    };
    let error: string | undefined;
    const auth = req.headers.authorization ?? '';
    let tok = url.searchParams.get('token') || url.searchParams.get('access_token') || undefined;
    if (!tok && auth) {
      const f = auth.trim().split(/\s+/);
      if (f.length === 2 && (f[0] === 'token' || lc(f[0]!) === 'bearer')) tok = f[1];
    }
    if (tok) {
      const u = byToken(tok);
      if (u) return { user: u };
      error = 'user does not exist [uid: 0, name: ]';
    }
    const [scheme, b64] = auth.split(' ', 2);
    if (scheme && lc(scheme) === 'basic' && b64 !== undefined) {
      const dec = Buffer.from(b64, 'base64').toString();
      const i = dec.indexOf(':');
      const [uname, passwd] = i < 0 ? [dec, ''] : [dec.slice(0, i), dec.slice(i + 1)];
      const u = byToken(passwd === '' || passwd === 'x-oauth-basic' ? uname : passwd);
      if (u) return { user: u };
      const named = userByName(uname);
      error ??= `user does not exist [uid: ${named?.id ?? 0}, name: ${named?.login ?? uname}]`;
    }
    return { error };
  };

  const handle = (c: Ctx): void => {
    const path = c.rawPath;
    if (path === '/api/healthz' && c.req.method === 'GET') {
      const check = [{ status: 'pass', time: rfc3339(now()) }];
      return send(
        c,
        200,
        goJson({ status: 'pass', description: 'Gitea: Git with a cup of tea', checks: { 'cache:ping': check, 'database:ping': check } }),
        'application/health+json',
      );
    }
    if (path !== '/api/v1' && !path.startsWith('/api/v1/')) return send(c, 404, '404 page not found\n', 'text/plain; charset=utf-8');
    c.res.setHeader('X-Content-Type-Options', 'nosniff');
    c.res.setHeader('Cache-Control', 'max-age=0, private, must-revalidate, no-transform');
    c.res.setHeader('X-Frame-Options', 'SAMEORIGIN');
    if (c.url.searchParams.get('token') || c.url.searchParams.get('access_token')) {
      c.res.setHeader(
        'X-Gitea-Warning',
        'token and access_token API authentication is deprecated and will be removed in gitea 1.23. Please use AuthorizationHeaderToken instead. Existing queries will continue to work but without authorization.',
      );
    }
    const a = authenticate(c.req, c.url);
    if (a.error && !a.user) return apiError(c, 401, a.error);
    c.doer = a.user;
    let parts: string[];
    try {
      parts = path.slice('/api/v1'.length).split('/').slice(1).map(decodeURIComponent);
    } catch {
      return send(c, 400, '400 Bad Request\n', 'text/plain; charset=utf-8');
    }
    const m = match(parts);
    if (!m) return send(c, 404, '404 page not found\n', 'text/plain; charset=utf-8');
    const method = c.req.method === 'HEAD' ? 'GET' : (c.req.method ?? 'GET');
    const same = routes.filter((r) => r.key === m.key);
    const route = same.find((r) => r.method === method);
    if (!route) {
      for (const r of same) c.res.appendHeader('Allow', r.method);
      return send(c, 405);
    }
    c.params = m.params;
    route.h(c);
  };

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    const rawPath = (req.url ?? '/').split('?')[0]!;
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      log(
        `router: completed ${req.method} ${rawPath} for ${req.socket.remoteAddress}:${req.socket.remotePort}, ${res.statusCode} ${http.STATUS_CODES[res.statusCode] ?? ''} in ${ms.toFixed(1)}ms`,
      );
    });
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const c: Ctx = { req, res, url: new URL(req.url ?? '/', 'http://x'), rawPath, body: Buffer.concat(chunks).toString('utf8'), params: {} };
      try {
        reloadIfChanged();
        handle(c);
        if (!res.writableEnded) json(c, 500, { message: '', url: swagger() });
      } catch (e) {
        if (e instanceof HttpDone) return;
        log(`gitea: internal error: ${(e as Error).stack ?? String(e)}`);
        if (!res.headersSent) {
          res.statusCode = 500;
          res.setHeader('Content-Type', 'application/json;charset=utf-8');
        }
        res.end(res.headersSent ? undefined : goJson({ message: '', url: swagger() }));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 3000, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  appUrl = (opts.baseUrl ?? url).replace(/\/*$/, '/');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A push to a PR's head branch, as Gitea records it: the branch and the PR head move to `sha`. */
export function pushToPull(statePath: string, owner: string, repo: string, index: number, sha: string): void {
  const st = JSON.parse(readFileSync(statePath, 'utf8')) as State;
  const o = st.users.find((u) => lc(u.login) === lc(owner));
  const r = st.repos.find((x) => x.owner_id === o?.id && lc(x.name) === lc(repo));
  const pull = st.issues.find((i) => i.repo_id === r?.id && i.index === index)?.pull;
  if (!r || !pull) throw new Error(`gitea: no PR ${owner}/${repo}#${index}`);
  pull.head_sha = sha;
  r.branches[pull.head_branch] = sha;
  if (!r.commits.includes(sha)) r.commits.push(sha);
  writeAtomic(statePath, JSON.stringify(st));
}
