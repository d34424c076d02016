import type { JsonClient } from './http';

// Gitea's REST API (v1), the subset the E2E uses: comments, the PR head, commit statuses.

export interface GiteaComment {
  id: number;
  body: string;
  html_url: string;
  created_at: string;
  user: { login: string };
}

export interface GiteaStatus {
  id: number;
  status: string;
  context: string;
  target_url: string;
  description: string;
  created_at: string;
}

export interface GiteaPull {
  number: number;
  state: string;
  head: { ref: string; sha: string };
  html_url: string;
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

  /** Whether a user is a member of an org: 204 yes, 404 no (as the bot asks: a member may see members). */
  async isOrgMember(org: string, user: string): Promise<{ member: boolean; status: number; evidence: string }> {
    try {
      const r = await this.api.get<unknown>(`api/v1/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(user)}`);
      return { member: r.status === 204, status: r.status, evidence: r.evidence };
    } catch (e) {
      const err = e as { status?: number; evidence?: string };
      if (err.status === 404) return { member: false, status: 404, evidence: err.evidence ?? '' };
      throw e;
    }
  }

  async combined(sha: string): Promise<{ state: string; statuses: GiteaStatus[] }> {
    return (await this.api.get<{ state: string; statuses: GiteaStatus[] }>(this.path(`commits/${sha}/status`))).body;
  }
}
