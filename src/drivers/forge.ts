import type { JsonClient } from './http';

// Gitea's REST API (v1), the subset the E2E uses: comments, the PR head, commit statuses.

export interface GiteaComment {
  id: number;
  body: string;
  html_url: string;
  created_at: string;
  user: { login: string };
}

/** One commit status. Gitea names its state `status` here, but `state` in the combined status and the create body. */
export interface GiteaStatus {
  /** Counts per commit (1, 2, 3…), not across the repo. */
  id: number;
  status: string;
  context: string;
  target_url: string;
  description: string;
  created_at: string;
}

export interface GiteaPull {
  number: number;
  /** "open" or "closed" (a merged PR is "closed"). */
  state: string;
  /** `ref` is the branch, or `refs/pull/{n}/head` once the branch is gone; `sha` is the head's tip. */
  head: { ref: string; sha: string };
  html_url: string;
}

export interface GiteaCombinedStatus {
  /** The worst of the latest status per context (`error` reported as `failure`); "" when there is none. */
  state: string;
  statuses: GiteaStatus[];
}

export class Gitea {
  constructor(
    readonly api: JsonClient,
    readonly owner: string,
    readonly repo: string,
  ) {}

  private path(rest: string): string {
    return `api/v1/repos/${encodeURIComponent(this.owner)}/${encodeURIComponent(this.repo)}/${rest}`;
  }

  async whoami(): Promise<string> {
    return (await this.api.get<{ login: string }>('api/v1/user')).body.login;
  }

  async postComment(pr: number, body: string): Promise<GiteaComment> {
    return (await this.api.post<GiteaComment>(this.path(`issues/${pr}/comments`), { body })).body;
  }

  async comments(pr: number, since?: string): Promise<GiteaComment[]> {
    return (await this.api.get<GiteaComment[]>(this.path(`issues/${pr}/comments`), since ? { since } : {})).body;
  }

  async pull(pr: number): Promise<GiteaPull> {
    return (await this.api.get<GiteaPull>(this.path(`pulls/${pr}`))).body;
  }

  /** Every status on a commit, newest first (by id: the order does not depend on the server's sort). */
  async statuses(sha: string): Promise<GiteaStatus[]> {
    return (await this.api.all<GiteaStatus>(this.path(`commits/${sha}/statuses`), {}, 50, 'limit')).sort((a, b) => b.id - a.id);
  }

  /** A file of the repo at a commit, branch or tag (GET …/raw/{filepath}?ref=). */
  async rawFile(path: string, ref: string): Promise<{ text: string; evidence: string }> {
    const r = await this.api.getText(this.path(`raw/${path.split('/').map(encodeURIComponent).join('/')}`), { ref });
    return { text: r.body, evidence: r.evidence };
  }

  /**
   * Whether a user is a member of an org: 204 yes, 404 no, as Gitea answers a member (or an admin). To anyone
   * else it answers 303 to public_members, which only knows public members: that is reported as the 303, not followed.
   */
  async isOrgMember(org: string, user: string): Promise<{ member: boolean; status: number; evidence: string }> {
    try {
      // As text: the 303's body is HTML, and a 204 has none.
      const r = await this.api.getText(`api/v1/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(user)}`);
      return { member: r.status === 204, status: r.status, evidence: r.evidence };
    } catch (e) {
      const err = e as { status?: number; evidence?: string };
      if (err.status === 404) return { member: false, status: 404, evidence: err.evidence ?? '' };
      throw e;
    }
  }

  /** The combined status; a commit without statuses comes back as Gitea's zero object, with `statuses: null`. */
  async combined(sha: string): Promise<GiteaCombinedStatus> {
    const body = (await this.api.get<{ state: string; statuses: GiteaStatus[] | null }>(this.path(`commits/${sha}/status`))).body;
    return { state: body.state, statuses: body.statuses ?? [] };
  }
}
