import { Files } from '../drivers/files';
import { posix } from 'node:path';
import { claimThat, listed } from '../claim';
import type { RunContext } from '../run/context';
import { baseMirror, cleanClone, recursiveClone } from '../tasks/repos';
import { cleanBuild, liveSystem } from '../tasks/system';

// C1, secrets-repo split: each function checks one claim and records the facts it saw.

export async function claimGitlink(run: RunContext, path: string): Promise<void> {
  const mirror = await baseMirror(run);
  const git = run.git('build');
  const { value: entry, evidence } = await git.treeEntry(mirror.dir, mirror.head, path);
  run.recorder.fact('base.commit', mirror.head, git.host.name);
  run.recorder.fact('base.gitlink', entry, git.host.name);
  claimThat(entry?.mode === '160000' && entry.type === 'commit', {
    claim: `the base repo (${run.profile.repos.base.branch} @ ${short(mirror.head)}) records ${path}/ as a submodule gitlink`,
    expected: `160000 commit <sha>\t${path}`,
    seen: entry ? `${entry.mode} ${entry.type} ${entry.object}\t${entry.path}` : `no entry named ${path} in the tree`,
    host: git.host.name,
    evidence: [evidence],
  });
}

export async function claimGitmodulesUrl(run: RunContext, path: string): Promise<void> {
  const mirror = await baseMirror(run);
  const git = run.git('build');
  const { value: config, evidence } = await git.configBlob(mirror.dir, mirror.head, '.gitmodules');
  const entries = Object.entries(config ?? {});
  const name = entries.find(([k, v]) => /^submodule\..*\.path$/.test(k) && v === path)?.[0].slice('submodule.'.length, -'.path'.length);
  const url = name === undefined ? undefined : config?.[`submodule.${name}.url`];
  const expected = run.profile.repos.secrets.url;
  const resolved = url === undefined ? undefined : resolveSubmoduleUrl(run.profile.repos.base.url, url);
  run.recorder.fact('base.gitmodules', { path, name, url, resolved }, git.host.name);
  claimThat(resolved !== undefined && sameRepo(resolved, expected), {
    claim: `.gitmodules in the base repo (${short(mirror.head)}) points ${path}/ at the secrets repo`,
    expected: `a submodule with path = ${path} and url = ${expected}`,
    seen:
      config === null
        ? 'no .gitmodules file'
        : url === undefined
          ? `no submodule with path = ${path}`
          : `url = ${url}${resolved !== url ? ` (${resolved})` : ''}`,
    host: git.host.name,
    evidence: [evidence],
  });
}

/**
 * No secrets file in the base repo, in any commit on any ref: none named `basename`, none with a
 * sops metadata block whatever its name, and nothing committed under the submodule's path.
 */
export async function claimNoSecretsFileInHistory(run: RunContext, basename: string, submodule: string): Promise<void> {
  submodule = submodule.replace(/\/+$/, '');
  const mirror = await baseMirror(run);
  const git = run.git('build');
  const [named, sops, under] = await Promise.all([
    git.filesNamedInHistory(mirror.dir, basename),
    git.sopsFilesInHistory(mirror.dir),
    git.filesUnderInHistory(mirror.dir, submodule),
  ]);
  const coverage = await git.coverage(mirror.dir);
  const found = [
    ...named.value.map((f) => ({ ...f, why: `named ${basename}` })),
    ...sops.value.map((f) => ({ ...f, why: 'a sops file (sops metadata with a MAC)' })),
    ...under.value.map((f) => ({ ...f, why: `under ${submodule}/, committed into the base repo itself` })),
  ];
  run.recorder.fact(
    'base.historyScan',
    { rules: [`named ${basename}`, 'any file with a sops metadata block and MAC', `any file under ${submodule}/`], ...coverage, found },
    git.host.name,
  );
  claimThat(found.length === 0, {
    claim: `no commit on any ref of the base repo holds a secrets file`,
    expected: `none among ${coverage.commits} commits on ${coverage.refs} refs: no file named ${basename}, no file carrying sops metadata, no file under ${submodule}/`,
    seen: listed(found.map((f) => `${f.path} in ${short(f.commit)} (${f.why})`)),
    host: git.host.name,
    evidence: [named.evidence, sops.evidence, under.evidence],
  });
}

export async function claimCloneHoldsFile(run: RunContext, path: string): Promise<void> {
  const clone = await recursiveClone(run);
  const host = run.pool.role('build');
  const r = clone.result.ok ? await new Files(host).isFile(`${clone.dir}/${path}`) : undefined;
  run.recorder.fact('clone.file', { path, present: r?.value ?? false }, host.name);
  claimThat(clone.result.ok && r?.value === true, {
    claim: `a clean \`git clone --recursive\` of the base repo populates ${path}`,
    expected: `clone exits 0 and ${path} is a file in the clone`,
    seen: clone.result.ok ? `${path} is missing from ${clone.dir}` : `clone exited ${clone.result.exitCode}: ${tail(clone.result.stderr)}`,
    host: host.name,
    evidence: [clone.result.evidence, ...(r ? [r.result.evidence] : [])],
  });
}

export async function claimSubmoduleAtGitlink(run: RunContext, path: string): Promise<void> {
  const clone = await cleanClone(run, 'its submodule is checked out');
  const git = run.git('build');
  const { value: entry, evidence } = await git.treeEntry(clone.dir, 'HEAD', path);
  const checkedOut = await git.revParse(`${clone.dir}/${path}`, 'HEAD');
  run.recorder.fact('clone.submodule', { path, gitlink: entry?.object, checkedOut }, git.host.name);
  claimThat(entry?.object === checkedOut, {
    claim: `the clone's ${path}/ is checked out at the commit the base repo's gitlink records`,
    expected: entry ? entry.object : `a gitlink at ${path}`,
    seen: checkedOut,
    host: git.host.name,
    evidence: [evidence],
  });
}

export async function claimToplevelIdentical(run: RunContext, buildCommand: string, probe: string): Promise<void> {
  if (probe.trim() !== 'readlink -f /run/current-system') throw new Error(`unsupported probe of the live system: ${probe}`);
  const [build, live] = await Promise.all([cleanBuild(run, buildCommand), liveSystem(run)]);
  const builder = run.profile.roles.build;
  const liveHost = run.profile.roles.live;
  run.recorder.fact('build.toplevel', build.toplevel, builder);
  run.recorder.fact('build.narHash', build.narHash, builder);
  run.recorder.fact('build.narHashOnDisk', build.narHashOnDisk, builder);
  run.recorder.fact('build.flakeRef', build.flakeRef, builder);
  run.recorder.fact('build.baseCommit', build.baseCommit, builder);
  run.recorder.fact('build.secretsCommit', build.secretsCommit, builder);
  run.recorder.fact('live.toplevel', live.toplevel, liveHost);
  run.recorder.fact('live.narHash', live.narHash, liveHost);
  run.recorder.fact('live.narHashOnDisk', live.narHashOnDisk, liveHost);
  // Both sides hash the files on their own disks; the store databases are recorded, not trusted.
  const independent = builder !== liveHost;
  run.recorder.fact('c1.comparison', {
    method: 'nix-hash --type sha256 --base32 of the toplevel on each host (the NAR of the files on disk), and the store path',
    independentBuild: independent,
    note: independent
      ? `built on ${builder}, a host other than the live host ${liveHost}`
      : `built on the live host itself: the build shares its store with what it is compared to; name another build host (roles.build) for an independent rebuild`,
  });
  // Files equal on both disks are not enough: one store, or two changed alike, agree with itself.
  // Each side's files must also be what its database recorded when the path was built.
  const liveIntact = live.narHashOnDisk === live.narHash;
  const buildIntact = build.narHashOnDisk === build.narHash;
  claimThat(build.toplevel === live.toplevel && build.narHashOnDisk === live.narHashOnDisk && liveIntact && buildIntact, {
    claim: `the clean clone's toplevel is byte-identical to the system the live host runs`,
    expected: `${live.toplevel} (${live.narHashOnDisk} on disk; the database says ${live.narHash}), readlink -f /run/current-system on ${liveHost}; on each host the files on disk hash to what its store database recorded`,
    seen: `${build.toplevel} (${build.narHashOnDisk} on disk${buildIntact ? '' : `; the database says ${build.narHash}`}), built on ${builder}${independent ? '' : ' (the live host itself)'} from base ${short(build.baseCommit)} + secrets ${short(build.secretsCommit)}${liveIntact ? '' : `; on ${liveHost} the files differ from what the database recorded`}`,
    host: `${builder} and ${liveHost}`,
    evidence: [build.evidence, build.hashEvidence, live.evidence, live.hashEvidence],
  });
}

/** A submodule URL as git resolves it: relative URLs are relative to the superproject's URL. */
export function resolveSubmoduleUrl(baseUrl: string, url: string): string {
  if (!url.startsWith('./') && !url.startsWith('../')) return url;
  const scp = /^([^/:]+@)?([^/:]+):(.*)$/.exec(baseUrl);
  if (!baseUrl.includes('://') && scp) return `${scp[1] ?? ''}${scp[2]}:${posix.normalize(posix.join(scp[3]!, url))}`;
  const u = new URL(baseUrl);
  u.pathname = posix.normalize(posix.join(u.pathname, url));
  return u.toString();
}

export function sameRepo(a: string, b: string): boolean {
  const norm = (s: string) =>
    s
      .trim()
      .replace(/\/+$/, '')
      .replace(/\.git$/, '');
  return norm(a) === norm(b);
}

function short(sha: string): string {
  return /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 12) : sha;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-2).join(' | ') || '(no output)';
}
