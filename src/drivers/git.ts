import type { CommandResult, Host } from './host';

export interface TreeEntry {
  mode: string;
  type: string;
  object: string;
  path: string;
}

/** A value read from a host, with the evidence file of the command that read it. */
export interface Read<T> {
  value: T;
  evidence: string;
}

/** git, run on a host. Reads return values; a git failure is the caller's to judge. */
export class Git {
  constructor(
    readonly host: Host,
    private readonly cloneTimeoutMs: number,
  ) {}

  clone(url: string, dir: string, opts: { recursive?: boolean; mirror?: boolean; branch?: string } = {}): Promise<CommandResult> {
    const argv = ['git', 'clone', '--quiet'];
    if (opts.mirror) argv.push('--mirror');
    if (opts.recursive) argv.push('--recursive');
    if (opts.branch && !opts.mirror) argv.push(`--branch=${opts.branch}`);
    // After `--` a URL is never an option (`--upload-pack=…`).
    return this.host.run([...argv, '--', url, dir], { timeoutMs: this.cloneTimeoutMs });
  }

  async revParse(repo: string, rev: string): Promise<string> {
    return (await this.host.succeed(['git', '-C', repo, 'rev-parse', '--verify', `${rev}^{commit}`])).stdout.trim();
  }

  /** The entry at `path` in the tree of `rev`, or null when there is none. */
  async treeEntry(repo: string, rev: string, path: string): Promise<Read<TreeEntry | null>> {
    const r = await this.host.succeed(['git', '-C', repo, 'ls-tree', rev, '--', path]);
    const m = /^(\d{6}) (\w+) ([0-9a-f]{40,64})\t(.*)$/m.exec(r.stdout);
    return { value: m ? { mode: m[1]!, type: m[2]!, object: m[3]!, path: m[4]! } : null, evidence: r.evidence };
  }

  /** `git config --list` of a file in a commit (e.g. .gitmodules), or null when the file is absent. */
  async configBlob(repo: string, rev: string, file: string): Promise<Read<Record<string, string> | null>> {
    const r = await this.host.run(['git', '-C', repo, 'config', '--blob', `${rev}:${file}`, '--list']);
    if (!r.ok) return { value: null, evidence: r.evidence };
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return { value: out, evidence: r.evidence };
  }

  /** Every (commit, path) on any ref where a file with this base name was added or changed. */
  filesNamedInHistory(repo: string, basename: string): Promise<Read<{ commit: string; path: string }[]>> {
    return this.changedInHistory(repo, `:(glob)**/${basename}`);
  }

  /** Every (commit, path) on any ref where a file under `dir`/ was added or changed. */
  filesUnderInHistory(repo: string, dir: string): Promise<Read<{ commit: string; path: string }[]>> {
    return this.changedInHistory(repo, `:(glob)${dir}/**`);
  }

  private async changedInHistory(repo: string, pathspec: string): Promise<Read<{ commit: string; path: string }[]>> {
    const r = await this.host.succeed([
      'git',
      '-C',
      repo,
      'log',
      '--all',
      '-m',
      '--no-renames',
      '--diff-filter=AMTC',
      '--name-only',
      '--format=commit %H',
      '--',
      pathspec,
    ]);
    return { value: parseNameLog(r.stdout), evidence: r.evidence };
  }

  /**
   * Every (commit, path) on any ref whose file carries a sops metadata block with a MAC, whatever
   * its name: YAML (`sops:` with `mac:`), JSON (`"sops":` with `"mac":`), dotenv/ini (`sops_mac=`).
   */
  async sopsFilesInHistory(repo: string): Promise<Read<{ commit: string; path: string }[]>> {
    const r = await this.host.succeed([
      'bash',
      '-c',
      [
        'set -o pipefail; g=$1',
        'found() { git -C "$g" rev-list --all | xargs -r git -C "$g" grep -l -I --all-match "$@"; rc=$?; [ "$rc" -le 1 ] || [ "$rc" -eq 123 ] || exit "$rc"; }',
        `found -E -e '^sops:' -e '^[[:space:]]+mac:'`,
        `found -E -e '"sops"[[:space:]]*:' -e '"mac"[[:space:]]*:'`,
        `found -E -e '^sops_mac[[:space:]]*='`,
        'true',
      ].join('\n'),
      'sops-files',
      repo,
    ]);
    const seen = new Map<string, string>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const i = line.indexOf(':');
      const [commit, path] = [line.slice(0, i), line.slice(i + 1)];
      if (!seen.has(path)) seen.set(path, commit);
    }
    return { value: [...seen].map(([path, commit]) => ({ commit, path })), evidence: r.evidence };
  }

  /** How many commits and refs a repo has: the coverage of a history scan. */
  async coverage(repo: string): Promise<{ commits: number; refs: number }> {
    const r = await this.host.succeed(['sh', '-c', 'git -C "$1" rev-list --all --count && git -C "$1" for-each-ref | wc -l', 'coverage', repo]);
    const [commits, refs] = r.stdout.trim().split('\n').map(Number);
    return { commits: commits ?? 0, refs: refs ?? 0 };
  }
}

/** `git log --format='commit %H' --name-only`: (commit, path) pairs. */
function parseNameLog(out: string): { commit: string; path: string }[] {
  const found: { commit: string; path: string }[] = [];
  let commit = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('commit ')) commit = line.slice(7);
    else if (line.trim()) found.push({ commit, path: line.trim() });
  }
  return found;
}
