import { Files } from '../drivers/files';
import { claimThat } from '../claim';
import { HostBrokenError } from '../errors';
import type { CommandResult } from '../drivers/host';
import type { RunContext } from '../run/context';

export interface Mirror {
  dir: string;
  /** The commit the profile's branch points at. */
  head: string;
  evidence: string;
}

export interface RecursiveClone {
  dir: string;
  result: CommandResult;
}

/** The run's directory on the build host. */
export function workDir(run: RunContext): Promise<string> {
  return run.workDirOn(run.pool.role('build'));
}

/** A mirror clone of the base repo (every ref) on the build host, made once per run. */
export function baseMirror(run: RunContext): Promise<Mirror> {
  return run.once('base-mirror', async () => {
    const git = run.git('build');
    const dir = `${await workDir(run)}/base-mirror.git`;
    const { url, branch } = run.profile.repos.base;
    const r = await git.clone(url, dir, { mirror: true });
    if (!r.ok) {
      throw new HostBrokenError({
        claim: `could not mirror the base repo ${url} on ${git.host.name}`,
        expected: 'git clone --mirror to succeed',
        seen: `exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`,
        host: git.host.name,
        evidence: [r.evidence],
      });
    }
    const head = await git.revParse(dir, `refs/heads/${branch}`);
    return { dir, head, evidence: r.evidence };
  });
}

/** A clean `git clone --recursive` of the base repo on the build host, made once per run. */
export function recursiveClone(run: RunContext): Promise<RecursiveClone> {
  return run.once('recursive-clone', async () => {
    const git = run.git('build');
    const dir = `${await workDir(run)}/cc-ci`;
    const { url, branch } = run.profile.repos.base;
    const result = await git.clone(url, dir, { recursive: true, branch });
    if (result.ok) {
      // What every check that reads the clone saw: the claim file names these commits.
      const [base, secrets] = await Promise.all([git.revParse(dir, 'HEAD'), git.revParse(`${dir}/secrets`, 'HEAD').catch(() => null)]);
      run.recorder.fact('clone.commits', { base, secrets, dir }, git.host.name);
    }
    return { dir, result };
  });
}

/** The clean recursive clone, claimed to have succeeded: `why` says what needs it. */
export async function cleanClone(run: RunContext, why: string): Promise<RecursiveClone> {
  const clone = await recursiveClone(run);
  claimThat(clone.result.ok, {
    claim: `a clean \`git clone --recursive\` of the base repo succeeds (${why})`,
    expected: 'exit 0',
    seen: `exit ${clone.result.exitCode}: ${clone.result.stderr.trim().split('\n').slice(-2).join(' | ')}`,
    host: run.pool.role('build').name,
    evidence: [clone.result.evidence],
  });
  return clone;
}

/** A file of the base repo as committed, read from the clean recursive clone (null when absent). */
export function baseRepoFile(run: RunContext, path: string): Promise<{ text: string | null; evidence: string; cloneOk: boolean }> {
  return run.once(`base-file ${path}`, async () => {
    const clone = await recursiveClone(run);
    if (!clone.result.ok) return { text: null, evidence: clone.result.evidence, cloneOk: false };
    const { text, result } = await new Files(run.pool.role('build')).readIfFile(`${clone.dir}/${path}`);
    return { text, evidence: result.evidence, cloneOk: true };
  });
}
