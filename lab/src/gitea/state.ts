// The stand-in's database: one JSON object of users (orgs are users, as in Gitea's models/user), token
// hashes, repositories, pull requests (each an issue with its pull, as in models/issues), comments and
// commit statuses. The stand-in seeds no plain issues, forks, collaborators or private repositories.
import { createHash } from 'node:crypto';

export interface Member {
  uid: number;
  public: boolean;
  owner: boolean;
}
export interface UserRec {
  id: number;
  login: string;
  org: boolean;
  full_name: string;
  email: string;
  admin: boolean;
  created: number;
  members?: Member[];
}
export interface RepoRec {
  id: number;
  owner_id: number;
  name: string;
  description: string;
  default_branch: string;
  branches: Record<string, string>;
  commits: string[];
  created: number;
  updated: number;
  git_dir?: string;
}
export interface PullRec {
  id: number;
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
/** A pull request: its issue (index, poster, title, comments) and its pull (branches, merge state). */
export interface IssueRec {
  id: number;
  repo_id: number;
  index: number;
  poster_id: number;
  title: string;
  body: string;
  closed: boolean;
  created: number;
  updated: number;
  closed_at: number;
  num_comments: number;
  pull: PullRec;
}
export interface CommentRec {
  id: number;
  issue_id: number;
  poster_id: number;
  body: string;
  created: number;
  updated: number;
}
export interface StatusRec {
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
export interface State {
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

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
export const lc = (s: string): string => s.toLowerCase();
export const unix = (d: Date): number => Math.floor(d.getTime() / 1000);
export const fakeSha = (...parts: string[]): string => createHash('sha1').update(parts.join('\0')).digest('hex');

export const userById = (st: State, id: number): UserRec | undefined => st.users.find((u) => u.id === id);
export const userByName = (st: State, name: string): UserRec | undefined => st.users.find((u) => lc(u.login) === lc(name));
export const repoByName = (st: State, owner: UserRec | undefined, name: string): RepoRec | undefined =>
  st.repos.find((r) => r.owner_id === owner?.id && lc(r.name) === lc(name));
export const repoById = (st: State, id: number): RepoRec => st.repos.find((r) => r.id === id)!;
export const issueById = (st: State, id: number): IssueRec => st.issues.find((i) => i.id === id)!;
export const repoPath = (st: State, r: RepoRec): string => `${userById(st, r.owner_id)!.login}/${r.name}`;
export const isMember = (org: UserRec, uid: number): boolean => (org.members ?? []).some((m) => m.uid === uid);

// Access modes (models/perm): anyone reads (every repository is public); an org's members write, its owners own.
export const READ = 1,
  WRITE = 2,
  ADMIN = 3,
  OWNER = 4;
export function accessMode(st: State, r: RepoRec, doer?: UserRec): number {
  if (!doer) return READ;
  if (doer.admin || doer.id === r.owner_id) return OWNER;
  const owner = userById(st, r.owner_id)!;
  const m = owner.org ? (owner.members ?? []).find((x) => x.uid === doer.id) : undefined;
  return m ? (m.owner ? OWNER : WRITE) : READ;
}
