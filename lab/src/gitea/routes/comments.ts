// PR comments (routers/api/v1/repo/issue_comment.go): a PR's comments (not paged, as Gitea), the
// repository's (paged only when ?page= is given), one by id, posting and deleting.
import { goAtoi } from '../go';
import { apiError, type App, bind, type Ctx, json, listOptions, notFound, paginate, parseFormTime, sendStatus, setTotal } from '../http';
import { repoAssignment, reqToken } from '../middleware';
import { toComment } from '../render';
import { type CommentRec, issueById, type IssueRec, type RepoRec, WRITE } from '../state';

/** ?since= and ?before= (inclusive, on the update time). */
function updatedBetween(c: Ctx): (cm: CommentRec) => boolean {
  const before = parseFormTime(c, 'before');
  const since = parseFormTime(c, 'since');
  return (cm) => (!since || cm.updated >= since) && (!before || cm.updated <= before);
}
const oldestFirst = (a: CommentRec, b: CommentRec): number => a.created - b.created || a.id - b.id;

const issueByIndex = (c: Ctx, repo: RepoRec): IssueRec => {
  const index = goAtoi(c.params.index!);
  return (
    c.st.issues.find((i) => i.repo_id === repo.id && i.index === index) ??
    apiError(c, 500, `issue does not exist [id: 0, repo_id: ${repo.id}, index: ${index}]`)
  );
};
const commentById = (c: Ctx, repo: RepoRec): CommentRec => {
  const id = goAtoi(c.params.id!);
  const cm = c.st.comments.find((x) => x.id === id) ?? notFound(c, new Error(`comment does not exist [id: ${id}, issue_id: 0]`));
  if (issueById(c.st, cm.issue_id).repo_id !== repo.id) return sendStatus(c, 404);
  return cm;
};

function postComment(app: App, c: Ctx): void {
  const { repo } = repoAssignment(c);
  const doer = reqToken(c);
  const form = bind(c, 'CreateIssueCommentOption', ['body']);
  if (form.body === '') return apiError(c, 422, '[Body]: Required');
  const issue = issueByIndex(c, repo);
  const t = app.now();
  const cm: CommentRec = { id: ++c.st.seq.comment, issue_id: issue.id, poster_id: doer.id, body: form.body!, created: t, updated: t };
  c.st.comments.push(cm);
  issue.num_comments++;
  issue.updated = t;
  app.save();
  json(c, 201, toComment(c, cm));
}

function deleteComment(app: App, c: Ctx): void {
  const { repo, mode } = repoAssignment(c);
  const doer = reqToken(c);
  const cm = commentById(c, repo);
  if (doer.id !== cm.poster_id && mode < WRITE) return sendStatus(c, 403);
  c.st.comments = c.st.comments.filter((x) => x.id !== cm.id);
  const issue = issueById(c.st, cm.issue_id);
  issue.num_comments = Math.max(0, issue.num_comments - 1);
  app.save();
  return sendStatus(c, 204);
}

export function commentRoutes(app: App): void {
  app.on('GET', '/repos/{owner}/{repo}/issues/comments', (c) => {
    const { repo } = repoAssignment(c);
    const between = updatedBetween(c);
    const lo = listOptions(c);
    const ids = new Set(c.st.issues.filter((i) => i.repo_id === repo.id).map((i) => i.id));
    const list = c.st.comments.filter((cm) => ids.has(cm.issue_id) && between(cm)).sort(oldestFirst);
    setTotal(c, list.length);
    json(
      c,
      200,
      (lo.page !== 0 ? paginate(list, lo.page, lo.size) : list).map((cm) => toComment(c, cm)),
    );
  });
  app.on('GET', '/repos/{owner}/{repo}/issues/comments/{id}', (c) => {
    const { repo } = repoAssignment(c);
    json(c, 200, toComment(c, commentById(c, repo)));
  });
  app.on('DELETE', '/repos/{owner}/{repo}/issues/comments/{id}', (c) => deleteComment(app, c));
  app.on('GET', '/repos/{owner}/{repo}/issues/{index}/comments', (c) => {
    const { repo } = repoAssignment(c);
    const between = updatedBetween(c);
    const issue = issueByIndex(c, repo);
    const list = c.st.comments.filter((cm) => cm.issue_id === issue.id && between(cm)).sort(oldestFirst);
    setTotal(c, list.length);
    json(
      c,
      200,
      list.map((cm) => toComment(c, cm)),
    );
  });
  app.on('POST', '/repos/{owner}/{repo}/issues/{index}/comments', (c) => postComment(app, c));
}
