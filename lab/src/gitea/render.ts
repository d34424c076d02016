// The JSON Gitea sends for its objects (services/convert/*.go, modules/structs/*.go), keys in Gitea's order.
import { createHash } from 'node:crypto';
import { rfc3339, ZERO_TIME } from './go';
import {
  ADMIN,
  accessMode,
  type CommentRec,
  fakeSha,
  type IssueRec,
  issueById,
  lc,
  READ,
  type RepoRec,
  repoById,
  repoPath,
  type State,
  type StatusRec,
  type UserRec,
  userById,
  WRITE,
} from './state';

/** What rendering needs: the state, and the AppURL (ROOT_URL with its trailing slash). */
export interface View {
  st: State;
  appUrl: string;
}

const hostName = (v: View): string => new URL(v.appUrl).hostname;
const escapedPath = (v: View, r: RepoRec): string => repoPath(v.st, r).split('/').map(encodeURIComponent).join('/');
const repoApiUrl = (v: View, r: RepoRec): string => `${v.appUrl}api/v1/repos/${escapedPath(v, r)}`;
const repoHtmlUrl = (v: View, r: RepoRec): string => `${v.appUrl}${escapedPath(v, r)}`;
const pullHtmlUrl = (v: View, i: IssueRec): string => `${repoHtmlUrl(v, repoById(v.st, i.repo_id))}/pulls/${i.index}`;

/** convert.ToUser: `signed` (a signed-in caller) sees the email; the user themself or an admin sees the private fields. */
export function toUser(v: View, u: UserRec, doer?: UserRec, signed = doer !== undefined): Record<string, unknown> {
  const authed = doer !== undefined && (doer.id === u.id || doer.admin);
  return {
    id: u.id,
    login: u.login,
    login_name: '',
    source_id: 0,
    full_name: u.full_name,
    email: signed ? u.email : `${lc(u.login)}@noreply.${hostName(v)}`,
    avatar_url: `${v.appUrl}avatars/${createHash('md5').update(lc(u.login)).digest('hex')}`,
    html_url: `${v.appUrl}${encodeURIComponent(u.login)}`,
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
    visibility: 'public',
    followers_count: 0,
    following_count: 0,
    starred_repos_count: 0,
    username: u.login,
  };
}

/** convert.ToRepo for a caller with access `mode`; the owner as ToUserWithAccessMode shows it to a reader. */
export function toRepo(v: View, r: RepoRec, mode: number): Record<string, unknown> {
  const apiUrl = repoApiUrl(v, r);
  const htmlUrl = repoHtmlUrl(v, r);
  return {
    id: r.id,
    owner: toUser(v, userById(v.st, r.owner_id)!, undefined, true),
    name: r.name,
    full_name: repoPath(v.st, r),
    description: r.description,
    empty: Object.keys(r.branches).length === 0,
    private: false,
    fork: false,
    template: false,
    parent: null,
    mirror: false,
    size: 0,
    language: '',
    languages_url: `${apiUrl}/languages`,
    html_url: htmlUrl,
    url: apiUrl,
    link: `/${repoPath(v.st, r)}`,
    ssh_url: `git@${hostName(v)}:${repoPath(v.st, r)}.git`,
    clone_url: `${htmlUrl}.git`,
    original_url: '',
    website: '',
    stars_count: 0,
    forks_count: 0,
    watchers_count: 0,
    open_issues_count: 0,
    open_pr_counter: v.st.issues.filter((i) => i.repo_id === r.id && !i.closed).length,
    release_counter: 0,
    default_branch: r.default_branch,
    archived: false,
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
}

/** convert.ToAPIComment; every issue here is a PR. */
export function toComment(v: View, cm: CommentRec): Record<string, unknown> {
  const html = pullHtmlUrl(v, issueById(v.st, cm.issue_id));
  return {
    id: cm.id,
    html_url: `${html}#issuecomment-${cm.id}`,
    pull_request_url: html,
    issue_url: '',
    user: toUser(v, userById(v.st, cm.poster_id)!),
    original_author: '',
    original_author_id: 0,
    body: cm.body,
    assets: [],
    created_at: rfc3339(cm.created),
    updated_at: rfc3339(cm.updated),
  };
}

const isWip = (i: IssueRec): boolean => /^(wip:|\[wip\])/i.test(i.title);

/** convert.ToAPIPullRequest; 1.22 added draft, review_comments, additions, deletions and changed_files (reference §3). */
export function toPull(v: View, i: IssueRec, doer: UserRec | undefined): Record<string, unknown> {
  const p = i.pull;
  const repo = repoById(v.st, i.repo_id);
  const html = pullHtmlUrl(v, i);
  const headSha = repo.branches[p.head_branch];
  const since122 = !v.st.version.startsWith('1.21.');
  const repoJson = toRepo(v, repo, accessMode(v.st, repo, doer));
  return {
    id: p.id,
    url: html,
    number: i.index,
    user: toUser(v, userById(v.st, i.poster_id)!),
    title: i.title,
    body: i.body,
    labels: [],
    milestone: null,
    assignee: null,
    assignees: null,
    requested_reviewers: null,
    state: i.closed ? 'closed' : 'open',
    ...(since122 ? { draft: isWip(i) } : {}),
    is_locked: false,
    comments: i.num_comments,
    ...(since122 ? { review_comments: 0, additions: p.additions ?? 0, deletions: p.deletions ?? 0, changed_files: p.changed_files ?? 0 } : {}),
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    mergeable: p.mergeable && !isWip(i),
    merged: p.merged,
    merged_at: p.merged ? rfc3339(p.merged_at) : null,
    merge_commit_sha: p.merged ? fakeSha('merge', String(p.id)) : null,
    merged_by: null,
    allow_maintainer_edit: false,
    base: { label: p.base_branch, ref: p.base_branch, sha: repo.branches[p.base_branch] ?? '', repo_id: repo.id, repo: repoJson },
    head: {
      label: p.head_branch,
      ref: headSha ? p.head_branch : `refs/pull/${i.index}/head`,
      sha: headSha ?? p.head_sha,
      repo_id: repo.id,
      repo: repoJson,
    },
    merge_base: p.merge_base,
    due_date: null,
    created_at: rfc3339(i.created),
    updated_at: rfc3339(i.updated),
    closed_at: i.closed ? rfc3339(i.closed_at) : null,
    pin_order: 0,
  };
}

/** convert.ToCommitStatus: `id` is the status's index on its commit. */
export function toStatus(v: View, s: StatusRec): Record<string, unknown> {
  const creator = userById(v.st, s.creator_id);
  return {
    id: s.index,
    status: s.state,
    target_url: s.target_url,
    description: s.description,
    url: `${repoApiUrl(v, repoById(v.st, s.repo_id))}/statuses/${encodeURIComponent(s.sha)}`,
    context: s.context,
    creator: creator ? toUser(v, creator) : null,
    created_at: rfc3339(s.created),
    updated_at: rfc3339(s.created),
  };
}
