// The per-route middleware of routers/api/v1/api.go: reqToken, orgAssignment, repoAssignment.
import { apiError, type Ctx, notFound } from './http';
import { accessMode, type RepoRec, repoByName, type UserRec, userByName } from './state';

export const reqToken = (c: Ctx): UserRec => c.doer ?? apiError(c, 401, 'token is required');

export const userOr404 = (c: Ctx, name: string): UserRec =>
  userByName(c.st, name) ?? notFound(c, 'GetUserByName', new Error(`user does not exist [uid: 0, name: ${name}]`));

export const orgAssignment = (c: Ctx): UserRec => {
  const org = userByName(c.st, c.params.org!);
  if (!org?.org) return notFound(c, 'GetOrgByName', new Error(`org does not exist [id: 0, name: ${c.params.org}]`));
  return org;
};

/** The {owner}/{repo} of the path, and the caller's access mode there. */
export const repoAssignment = (c: Ctx): { repo: RepoRec; mode: number } => {
  const owner = userOr404(c, c.params.owner!);
  const repo = repoByName(c.st, owner, c.params.repo!) ?? notFound(c);
  return { repo, mode: accessMode(c.st, repo, c.doer) };
};
