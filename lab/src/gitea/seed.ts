// `gitea seed`: a fresh state file from a description of users, orgs, repositories and their PRs.
import { fakeSha, type IssueRec, lc, type RepoRec, type State, tokenHash, unix, type UserRec, userByName } from './state';
import { writeState } from './store';

export interface GiteaSeed {
  version?: string;
  users: { login: string; token?: string; tokens?: string[]; full_name?: string; email?: string; admin?: boolean }[];
  orgs?: SeedOrg[];
  repos?: SeedRepo[];
}
export interface SeedOrg {
  name: string;
  full_name?: string;
  email?: string;
  members?: string[];
  owners?: string[];
  public_members?: string[];
}
export interface SeedRepo {
  owner: string;
  name: string;
  description?: string;
  default_branch?: string;
  branches?: Record<string, string>;
  commits?: string[];
  /** The bare repository the files come from (for /raw), on the forge. */
  gitDir?: string;
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
  head: { ref: string; sha: string };
  base: { ref: string; sha?: string };
  additions?: number;
  deletions?: number;
  changed_files?: number;
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
  for (const u of seed.users) addUser(st, u, t);
  for (const o of seed.orgs ?? []) addOrg(st, o, t);
  for (const r of seed.repos ?? []) addRepo(st, r, t);
  writeState(statePath, st);
}

const seeded = (st: State, login: string, what: string): UserRec => {
  const u = userByName(st, login);
  if (!u) throw new Error(`gitea seed: ${what}: no user or org '${login}'`);
  return u;
};

/** The next user id for a new user or org name. */
function newName(st: State, login: string): number {
  if (!/^[\w.-]+$/.test(login)) throw new Error(`gitea seed: invalid name '${login}'`);
  if (userByName(st, login)) throw new Error(`gitea seed: duplicate user or org '${login}'`);
  return ++st.seq.user;
}

function addUser(st: State, u: GiteaSeed['users'][number], t: number): void {
  const id = newName(st, u.login);
  st.users.push({
    id,
    login: u.login,
    org: false,
    full_name: u.full_name ?? '',
    email: u.email ?? `${lc(u.login)}@lab.test`,
    admin: u.admin ?? false,
    created: t,
  });
  for (const tok of [...(u.token ? [u.token] : []), ...(u.tokens ?? [])]) st.tokens.push({ uid: id, sha256: tokenHash(tok) });
}

function addOrg(st: State, o: SeedOrg, t: number): void {
  const id = newName(st, o.name);
  const names = [...new Set([...(o.owners ?? []), ...(o.members ?? [])])];
  const members = names.map((n) => ({
    uid: seeded(st, n, `org ${o.name}`).id,
    public: (o.public_members ?? []).includes(n),
    owner: (o.owners ?? []).includes(n),
  }));
  st.users.push({ id, login: o.name, org: true, full_name: o.full_name ?? '', email: o.email ?? '', admin: false, created: t, members });
}

function addRepo(st: State, r: SeedRepo, t: number): void {
  const owner = seeded(st, r.owner, `repo ${r.owner}/${r.name}`);
  if (st.repos.some((x) => x.owner_id === owner.id && lc(x.name) === lc(r.name))) throw new Error(`gitea seed: duplicate repo ${r.owner}/${r.name}`);
  const def = r.default_branch ?? 'main';
  const repo: RepoRec = {
    id: ++st.seq.repo,
    owner_id: owner.id,
    name: r.name,
    description: r.description ?? '',
    default_branch: def,
    branches: { [def]: fakeSha(r.owner, r.name, def), ...r.branches },
    commits: [...(r.commits ?? [])],
    created: t,
    updated: t,
    ...(r.gitDir ? { git_dir: r.gitDir } : {}),
  };
  st.repos.push(repo);
  const pulls = r.pulls ?? [];
  const used = new Set(pulls.map((p) => p.number).filter((n): n is number => n !== undefined));
  let next = 1;
  for (const p of pulls) {
    if (p.number === undefined) {
      while (used.has(next)) next++;
      used.add(next);
    }
    addPull(st, repo, r, p, p.number ?? next, t);
  }
  // Head branches last: a PR's head wins over another's base of the same name.
  for (const p of pulls) repo.branches[p.head.ref] = p.head.sha;
}

function addPull(st: State, repo: RepoRec, r: SeedRepo, p: SeedPull, index: number, t: number): void {
  if (!/^[0-9a-f]{40}$/.test(p.head.sha)) throw new Error(`gitea seed: PR '${p.title}': head.sha must be 40 lowercase hex`);
  const closed = p.state === 'closed' || (p.merged ?? false);
  if (p.base.sha) repo.branches[p.base.ref] = p.base.sha;
  repo.branches[p.base.ref] ??= fakeSha(r.owner, r.name, p.base.ref);
  const issue: IssueRec = {
    id: ++st.seq.issue,
    repo_id: repo.id,
    index,
    poster_id: seeded(st, p.user, 'pull').id,
    title: p.title,
    body: p.body ?? '',
    closed,
    created: t,
    updated: t,
    closed_at: closed ? t : 0,
    num_comments: 0,
    pull: {
      id: ++st.seq.pull,
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
    },
  };
  st.issues.push(issue);
}
