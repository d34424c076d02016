// Org membership (routers/api/v1/org/member.go): the member list, and IsMember / IsPublicMember,
// where a caller who is no member is sent (303) to the public answer.
import { type App, type Ctx, json, listOptions, notFound, paginate, send, sendStatus, setTotal } from '../http';
import { orgAssignment, reqToken, userOr404 } from '../middleware';
import { toUser } from '../render';
import { isMember, type UserRec, userById } from '../state';

/** listMembers: a page of members (public ones only for `publicOnly`), sorted by login within the page. */
function memberList(c: Ctx, org: UserRec, publicOnly: boolean): void {
  const lo = listOptions(c);
  const members = (org.members ?? []).filter((m) => !publicOnly || m.public);
  const page = paginate(members, lo.page, lo.size)
    .map((m) => userById(c.st, m.uid)!)
    .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
  setTotal(c, members.length);
  json(
    c,
    200,
    page.map((u) => toUser(c, u, c.doer)),
  );
}

function isMemberRoute(c: Ctx): void {
  const org = orgAssignment(c);
  const doer = reqToken(c);
  const target = userOr404(c, c.params.username!);
  if (isMember(org, doer.id) || doer.admin) return isMember(org, target.id) ? sendStatus(c, 204) : notFound(c);
  if (doer.id === target.id) return notFound(c);
  const loc = `/api/v1/orgs/${encodeURIComponent(org.login)}/public_members/${encodeURIComponent(target.login)}`;
  c.res.setHeader('Location', loc);
  return send(c, 303, `<a href="${loc}">See Other</a>.\n\n`, 'text/html; charset=utf-8');
}

export function orgRoutes(app: App): void {
  app.on('GET', '/orgs/{org}/members', (c) => {
    const org = orgAssignment(c);
    const doer = reqToken(c);
    memberList(c, org, !isMember(org, doer.id) && !doer.admin);
  });
  app.on('GET', '/orgs/{org}/members/{username}', isMemberRoute);
  app.on('GET', '/orgs/{org}/public_members/{username}', (c) => {
    const org = orgAssignment(c);
    const target = userOr404(c, c.params.username!);
    return (org.members ?? []).some((m) => m.uid === target.id && m.public) ? sendStatus(c, 204) : notFound(c);
  });
}
