// The state file: written atomically after every change, reread by the server when something else
// (a new seed, pushToPull from a fault) replaced it.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { repoByName, type State, userByName } from './state';

function writeAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export const writeState = (path: string, st: State): void => writeAtomic(path, `${JSON.stringify(st, null, 1)}\n`);

function readState(path: string): State {
  const st = JSON.parse(readFileSync(path, 'utf8')) as State;
  if (st.format !== 1) throw new Error(`gitea: ${path}: unknown state format`);
  return st;
}

/** A server's state: saved after each change, reread before a request if the file was replaced. */
export class Store {
  st: State;
  private stamp: string;

  constructor(readonly path: string) {
    this.st = readState(path);
    this.stamp = this.fileStamp();
  }

  save(): void {
    writeState(this.path, this.st);
    this.stamp = this.fileStamp();
  }

  reloadIfChanged(): State {
    const s = this.fileStamp();
    if (s !== this.stamp) {
      this.st = readState(this.path);
      this.stamp = s;
    }
    return this.st;
  }

  private fileStamp(): string {
    const s = statSync(this.path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  }
}

/** A push to a PR's head branch, as Gitea records it: the branch and the PR head move to `sha`. */
export function pushToPull(statePath: string, owner: string, repo: string, index: number, sha: string): void {
  const st = readState(statePath);
  const r = repoByName(st, userByName(st, owner), repo);
  const pull = st.issues.find((i) => i.repo_id === r?.id && i.index === index)?.pull;
  if (!r || !pull) throw new Error(`gitea: no PR ${owner}/${repo}#${index}`);
  pull.head_sha = sha;
  r.branches[pull.head_branch] = sha;
  if (!r.commits.includes(sha)) r.commits.push(sha);
  writeState(statePath, st);
}
