// A repository (routers/api/v1/repo/repo.go Get), its pull requests (repo/pull.go ListPullRequests,
// GetPullRequest) and its files (repo/file.go GetRawFile).
import { spawnSync } from 'node:child_process';
import { goAtoi } from '../go';
import { type App, type Ctx, formTrim, json, listOptions, notFound, paginate, send, setLinks, setTotal, TEXT } from '../http';
import { repoAssignment } from '../middleware';
import { toPull, toRepo } from '../render';

/** ?state=open|closed (anything else: all), newest first, paged. */
function listPulls(c: Ctx): void {
  const { repo } = repoAssignment(c);
  const lo = listOptions(c);
  const state = formTrim(c, 'state');
  const list = c.st.issues
    .filter((i) => i.repo_id === repo.id && (state === 'open' ? !i.closed : state === 'closed' ? i.closed : true))
    .sort((a, b) => b.created - a.created || b.id - a.id);
  setLinks(c, list.length, lo.size);
  setTotal(c, list.length);
  json(
    c,
    200,
    paginate(list, lo.page, lo.size).map((i) => toPull(c, i, c.doer)),
  );
}

/** The file at ?ref= (a commit, branch or tag; default: the default branch), as stored in the repo's git directory. */
function rawFile(c: Ctx): void {
  const { repo } = repoAssignment(c);
  const ref = formTrim(c, 'ref') || repo.default_branch;
  if (!repo.git_dir) return notFound(c);
  const git = (...args: string[]) => spawnSync('git', ['-C', repo.git_dir!, ...args], { maxBuffer: 64 * 1024 * 1024 });
  const commit = git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  if (commit.status !== 0) return notFound(c, new Error(`object does not exist [id: ${ref}, rel_path: ]`));
  const blob = git('cat-file', 'blob', `${commit.stdout.toString().trim()}:${c.params.filepath}`);
  if (blob.status !== 0) return notFound(c, new Error(`object does not exist [id: , rel_path: ${c.params.filepath}]`));
  c.res.setHeader('Content-Length', String(blob.stdout.length));
  return send(c, 200, blob.stdout, TEXT);
}

export function repoRoutes(app: App): void {
  app.on('GET', '/repos/{owner}/{repo}', (c) => {
    const { repo, mode } = repoAssignment(c);
    json(c, 200, toRepo(c, repo, mode));
  });
  app.on('GET', '/repos/{owner}/{repo}/pulls', listPulls);
  app.on('GET', '/repos/{owner}/{repo}/pulls/{index}', (c) => {
    const { repo } = repoAssignment(c);
    const index = goAtoi(c.params.index!);
    const issue = c.st.issues.find((i) => i.repo_id === repo.id && i.index === index) ?? notFound(c);
    json(c, 200, toPull(c, issue, c.doer));
  });
  app.on('GET', '/repos/{owner}/{repo}/raw/{filepath*}', rawFile);
}
