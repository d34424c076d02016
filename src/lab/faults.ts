import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Lab } from './lab';
import { COMMIT_ENV, git } from './world';

// Lab faults: each changes the lab the way cc-ci could really be wrong, so that named checks
// must go red. `red` lists the scenario tags that must fail; every other scenario must pass.

export interface Fault {
  name: string;
  summary: string;
  criteria: string[];
  red: string[];
  apply(lab: Lab): Promise<void>;
}

/** Commits a change to a forge repo, as a later push by someone would. */
async function commitToForge(lab: Lab, repo: string, message: string, edit: (work: string) => Promise<void>): Promise<string> {
  const work = mkdtempSync(join(lab.dir, `fault-${repo}-`));
  try {
    await execa('git', ['clone', '-q', join(lab.forgeDir, `${repo}.git`), work], { env: COMMIT_ENV });
    await edit(work);
    const env = { ...COMMIT_ENV, GIT_AUTHOR_DATE: '2026-05-28T09:00:00Z', GIT_COMMITTER_DATE: '2026-05-28T09:00:00Z' };
    await execa('git', ['commit', '-q', '-a', '-m', message], { cwd: work, env });
    await execa('git', ['push', '-q', 'origin', 'HEAD:main'], { cwd: work, env });
    return await git(work, 'rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export const FAULTS: Fault[] = [
  {
    name: 'toplevel-drift',
    summary: 'the live host runs a system built from another commit (a local change on cc-ci, switched to)',
    criteria: ['C1'],
    red: ['@c1-toplevel-identical'],
    async apply(lab) {
      await lab.sh('cc-ci', [
        'cd /root/cc-ci',
        `sed -i 's/Docker Application Container Engine/Docker Application Container Engine (hotfix)/' modules/services.nix`,
        'git commit -q -a -m "hotfix on the live host"',
        `nixos-rebuild switch --flake 'git+file:///root/cc-ci?submodules=1#cc-ci'`,
      ].join('\n'));
    },
  },
  {
    name: 'submodule-missing',
    summary: 'the base repo loses its gitlink: secrets/ and its .gitmodules entry are removed',
    criteria: ['C1'],
    red: ['@c1-gitlink', '@c1-gitmodules-url', '@c1-clone-populates', '@c1-toplevel-identical'],
    async apply(lab) {
      await commitToForge(lab, 'cc-ci', 'drop the secrets submodule', async (work) => {
        await git(work, 'rm', '-q', '--cached', 'secrets');
        await git(work, 'rm', '-q', '.gitmodules');
      });
    },
  },
  {
    name: 'gitmodules-wrong-url',
    summary: '.gitmodules points secrets/ at another repo (a stale copy of the secrets repo)',
    criteria: ['C1'],
    red: ['@c1-gitmodules-url'],
    async apply(lab) {
      await execa('git', ['clone', '-q', '--bare', join(lab.forgeDir, 'cc-ci-secrets.git'), join(lab.forgeDir, 'cc-ci-secrets-old.git')]);
      const url = lab.profile.repos.secrets.url.replace(/cc-ci-secrets(\.git)?$/, 'cc-ci-secrets-old.git');
      await commitToForge(lab, 'cc-ci', 'point the submodule at the old secrets repo', async (work) => {
        await git(work, 'config', '-f', '.gitmodules', 'submodule.secrets.url', url);
      });
    },
  },
  {
    name: 'secrets-in-history',
    summary: 'a secrets.yaml was committed to the base repo once and removed in a later commit',
    criteria: ['C1'],
    red: ['@c1-no-secrets-file'],
    async apply(lab) {
      const sopsFile = readFileSync(join(lab.dir, 'seed', 'cc-ci-secrets', lab.profile.secrets.file));
      await commitToForge(lab, 'cc-ci', 'add secrets (oops)', async (work) => {
        writeFileSync(join(work, lab.profile.secrets.file), sopsFile);
        await git(work, 'add', lab.profile.secrets.file);
      });
      await commitToForge(lab, 'cc-ci', 'remove secrets again', async (work) => {
        await git(work, 'rm', '-q', lab.profile.secrets.file);
      });
    },
  },
  {
    name: 'gitlink-unpushed',
    summary: 'the base repo records a secrets commit that was never pushed to the secrets repo',
    criteria: ['C1'],
    red: ['@c1-clone-populates', '@c1-toplevel-identical'],
    async apply(lab) {
      const local = mkdtempSync(join(lab.dir, 'fault-unpushed-'));
      try {
        await execa('git', ['clone', '-q', join(lab.forgeDir, 'cc-ci-secrets.git'), local], { env: COMMIT_ENV });
        await execa('git', ['commit', '-q', '--allow-empty', '-m', 'rotate a secret (never pushed)'], { cwd: local, env: COMMIT_ENV });
        const unpushed = await git(local, 'rev-parse', 'HEAD');
        await commitToForge(lab, 'cc-ci', 'bump secrets', async (work) => {
          await git(work, 'update-index', '--cacheinfo', `160000,${unpushed},secrets`);
        });
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    },
  },
];

export function faultNamed(name: string): Fault | undefined {
  return FAULTS.find((f) => f.name === name);
}
