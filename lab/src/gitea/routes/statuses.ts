// Commit statuses (routers/api/v1/repo/status.go): creating one, listing a commit's (by sha or by
// ref), and the combined status (the latest per context).
import { apiError, type App, bind, type Ctx, formTrim, json, listOptions, paginate, setLinks, setTotal } from '../http';
import { repoAssignment, reqToken } from '../middleware';
import { toRepo, toStatus } from '../render';
import { type RepoRec, type State, type StatusRec, WRITE } from '../state';

const STATES = ['pending', 'success', 'error', 'failure', 'warning'];
const PRIORITY: Record<string, number> = { error: 0, failure: 1, warning: 2, pending: 3, success: 4 };
const SORTS: Record<string, (a: StatusRec, b: StatusRec) => number> = {
  oldest: (a, b) => a.created - b.created || a.index - b.index,
  leastindex: (a, b) => b.index - a.index,
  highestindex: (a, b) => a.index - b.index,
};
const newestFirst = (a: StatusRec, b: StatusRec): number => b.created - a.created || b.index - a.index;

/** utils.ResolveRefOrSha (reference §5): a branch, then a full or short sha of a known commit. */
function resolveCommit(st: State, repo: RepoRec, ref: string): string | undefined {
  if (Object.hasOwn(repo.branches, ref)) return repo.branches[ref];
  const known = new Set([...Object.values(repo.branches), ...repo.commits, ...st.issues.filter((i) => i.repo_id === repo.id).map((i) => i.pull.head_sha)]);
  if (/^[0-9a-f]{40}$/.test(ref)) return known.has(ref) ? ref : undefined;
  if (/^[0-9a-f]{4,39}$/.test(ref)) {
    const hits = [...known].filter((s) => s.startsWith(ref));
    return hits.length === 1 ? hits[0] : undefined;
  }
  return undefined;
}

/** CalcCommitStatus: the worst state, with error reported as failure. */
function combine(list: StatusRec[]): string {
  let state = '';
  for (const s of list) {
    const a = PRIORITY[s.state],
      b = PRIORITY[state];
    if (state === '' || (a !== undefined && b !== undefined && a <= b)) state = s.state;
  }
  return state === 'error' ? 'failure' : state;
}

/** A commit's statuses: ?state= filters (a known state only), ?sort= orders, paged with Link. */
function listStatuses(c: Ctx, ref: string): void {
  const { repo } = repoAssignment(c);
  const sha = resolveCommit(c.st, repo, ref) ?? ref;
  const lo = listOptions(c);
  const state = formTrim(c, 'state');
  const list = c.st.statuses.filter((s) => s.repo_id === repo.id && s.sha === sha && (!STATES.includes(state) || s.state === state));
  list.sort(SORTS[formTrim(c, 'sort')] ?? newestFirst);
  setLinks(c, list.length, lo.size);
  setTotal(c, list.length);
  json(
    c,
    200,
    paginate(list, lo.page, lo.size).map((s) => toStatus(c, s)),
  );
}

function createStatus(app: App, c: Ctx): void {
  const { repo, mode } = repoAssignment(c);
  const doer = reqToken(c);
  if (mode < WRITE) return apiError(c, 403, 'user should have a permission to write to a repo');
  const form = bind(c, 'CreateStatusOption', ['state', 'target_url', 'description', 'context']);
  const sha =
    resolveCommit(c.st, repo, c.params.sha!) ?? apiError(c, 500, `GetCommit[${c.params.sha}]: object does not exist [id: ${c.params.sha}, rel_path: ]`);
  const t = app.now();
  const index = c.st.statuses.filter((s) => s.repo_id === repo.id && s.sha === sha).reduce((m, s) => Math.max(m, s.index), 0) + 1;
  const s: StatusRec = {
    id: ++c.st.seq.status,
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
  c.st.statuses.push(s);
  app.save();
  json(c, 201, toStatus(c, s));
}

/** The latest status of each context, paged by limit (newest first), listed in creation order. */
function combinedStatus(c: Ctx): void {
  const { repo, mode } = repoAssignment(c);
  const sha = resolveCommit(c.st, repo, c.params.ref!) ?? c.params.ref!;
  const lo = listOptions(c);
  const latest = new Map<string, StatusRec>();
  for (const s of c.st.statuses) if (s.repo_id === repo.id && s.sha === sha && (latest.get(s.context)?.index ?? 0) < s.index) latest.set(s.context, s);
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
    statuses: list.map((s) => toStatus(c, s)),
    repository: toRepo(c, repo, mode),
    commit_url: '',
    url: '',
  });
}

export function statusRoutes(app: App): void {
  app.on('GET', '/repos/{owner}/{repo}/statuses/{sha}', (c) => listStatuses(c, c.params.sha!));
  app.on('POST', '/repos/{owner}/{repo}/statuses/{sha}', (c) => createStatus(app, c));
  app.on('GET', '/repos/{owner}/{repo}/commits/{ref}/statuses', (c) => listStatuses(c, c.params.ref!));
  app.on('GET', '/repos/{owner}/{repo}/commits/{ref}/status', combinedStatus);
}
