// What the Drone stand-in asks of the SCM (Gitea) when a build is created.
import { spawnSync } from 'node:child_process';

export interface Scm {
  /** The forge's root URL: a build's `link` is its commit there. */
  api: string;
  /** A URL prefix, {git}/{name}.git: where a branch's tip is read when no commit is given. */
  git?: string;
}

const trimSlash = (u: string) => u.replace(/\/+$/, '');

/** The commit's API URL as go-scm's Gitea driver gives it, {api}/api/v1/repos/{slug}/git/commits/{sha}; '' without a sha. */
export function commitLink(scm: Scm | undefined, slug: string, sha: string): string {
  return scm && sha ? `${trimSlash(scm.api)}/api/v1/repos/${slug}/git/commits/${sha}` : '';
}

/** The sha `ref` points at in repository `name`; '' when unknown. */
export function branchTip(scm: Scm | undefined, name: string, ref: string): string {
  if (!scm?.git) return '';
  const r = spawnSync('git', ['ls-remote', `${trimSlash(scm.git)}/${name}.git`, ref], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? (r.stdout.split('\t')[0] ?? '').trim() : '';
}
