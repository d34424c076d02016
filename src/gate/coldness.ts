import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RunEvidence } from '../evidence/report';
import { PROJECT_ROOT } from '../paths';

// How cold a run was: a fresh clone of the harness with nothing changed or added, node_modules
// installed from the lockfile in this run, a throwaway made by this run, and a build that built
// (on a build host other than the live host: the live host's store holds its own toplevel).

export interface HarnessState {
  commit: string;
  /** Tracked files changed. */
  dirty: boolean;
  untracked: number;
  /** The checkout's reflog holds only its clone and checkouts: nothing committed, pulled or reset. */
  freshClone: boolean;
  reflog: string[];
  nodeModules: { fromLockfile: boolean; installedAt?: string };
}

export interface Coldness {
  cold: boolean;
  /** Why not, in a few words each. */
  reasons: string[];
  line: string;
  harness: HarnessState;
  nodeModulesInThisRun: boolean;
  throwaway?: { name: string; createdAt?: string; secondsAfterStart?: number };
  /** What the build host built; `onLiveHost` when it is the live host itself, whose store holds the live toplevel by nature. */
  build?: { derivationsBuilt: number | null; host?: string; onLiveHost: boolean };
  /** The clean clone the checks read: in this run's own work dir, so never one an earlier run left. */
  clone?: { dir: string; madeByThisRun: boolean };
  ledger?: unknown;
}

async function git(...args: string[]): Promise<string | undefined> {
  const r = await execa('git', ['-C', PROJECT_ROOT, ...args], { reject: false });
  return r.exitCode === 0 ? String(r.stdout) : undefined;
}

/** The harness checkout as it is when a run starts. */
export async function harnessState(): Promise<HarnessState> {
  const [head, status, reflog] = await Promise.all([git('rev-parse', 'HEAD'), git('status', '--porcelain'), git('reflog', '--format=%gs', '-n', '50')]);
  const lines = (status ?? '').split('\n').filter(Boolean);
  const entries = (reflog ?? '').split('\n').filter(Boolean);
  const stampFile = join(PROJECT_ROOT, 'node_modules', '.cc-ci-deps-stamp');
  let nodeModules: HarnessState['nodeModules'] = { fromLockfile: false };
  if (existsSync(stampFile)) {
    const text = readFileSync(stampFile, 'utf8').trim();
    const stamp = text.startsWith('{') ? (JSON.parse(text) as { lock: string; installedAt?: string }) : { lock: text };
    const lock = createHash('sha256')
      .update(readFileSync(join(PROJECT_ROOT, 'package-lock.json')))
      .digest('hex');
    nodeModules = { fromLockfile: stamp.lock === lock, installedAt: stamp.installedAt };
  }
  return {
    commit: head?.trim() ?? 'unknown (not a git checkout)',
    dirty: lines.some((l) => !l.startsWith('??')),
    untracked: lines.filter((l) => l.startsWith('??')).length,
    freshClone: entries.length > 0 && entries.every((e) => /^(clone|checkout): /.test(e)),
    reflog: entries.slice(0, 5).map((e) => (e.length > 60 ? `${e.slice(0, 59)}…` : e)),
    nodeModules,
  };
}

/** How long before the run's start node_modules may have been installed and still count as "this run". */
const INSTALL_WINDOW_MS = 30 * 60_000;

export function coldness(
  e: Pick<RunEvidence, 'scenarios' | 'runFacts' | 'startedAt'> & { runId?: string },
  harness: HarnessState,
  opts: { /** The profile's live host (roles.live). */ liveHost?: string } = {},
): Coldness {
  const entry = (key: string): { value: unknown; host?: string } | undefined =>
    e.runFacts.find((f) => f.key === key) ?? e.scenarios.map((s) => s.facts[key]).find((f) => f?.value !== undefined);
  const fact = (key: string): unknown => entry(key)?.value;
  const start = Date.parse(e.startedAt);
  const reasons: string[] = [];
  if (!harness.freshClone) reasons.push(`the harness is not a fresh clone (its reflog: ${harness.reflog.slice(0, 2).join('; ') || 'none'})`);
  if (harness.dirty) reasons.push('the harness has uncommitted changes');
  if (harness.untracked) reasons.push(`the harness has ${harness.untracked} untracked file(s)`);
  if (!harness.nodeModules.fromLockfile) reasons.push('node_modules does not match package-lock.json (no npm ci)');
  const installed = harness.nodeModules.installedAt ? Date.parse(harness.nodeModules.installedAt) : NaN;
  const nodeModulesInThisRun = !Number.isNaN(installed) && start - installed <= INSTALL_WINDOW_MS;
  if (harness.nodeModules.fromLockfile && !nodeModulesInThisRun)
    reasons.push(`node_modules was installed ${harness.nodeModules.installedAt ?? 'at an unknown time'}, not for this run`);
  const made = fact('throwaway.created') as { name: string; createdAt?: string } | undefined;
  let throwaway: Coldness['throwaway'];
  if (made) {
    const at = made.createdAt ? Date.parse(made.createdAt) : NaN;
    throwaway = { name: made.name, createdAt: made.createdAt, secondsAfterStart: Number.isNaN(at) ? undefined : Math.round((at - start) / 1000) };
    if (Number.isNaN(at) || at < start) reasons.push(`the throwaway ${made.name} was not made by this run`);
  }
  const builtFact = entry('build.derivationsBuilt');
  const built = builtFact?.value as number | null | undefined;
  // C1 says whether it built on a host other than the live one; else the fact's host says it.
  const independentBuild = (fact('c1.comparison') as { independentBuild?: boolean } | undefined)?.independentBuild;
  const onLiveHost = independentBuild === false || (!!opts.liveHost && builtFact?.host === opts.liveHost);
  const build = built === undefined ? undefined : { derivationsBuilt: built, ...(builtFact?.host ? { host: builtFact.host } : {}), onLiveHost };
  // A build host other than the live host that built nothing had the toplevel from an earlier run;
  // the live host's store holds the system it runs by nature, which says nothing about this run.
  if (built === 0 && !onLiveHost) reasons.push('the build host built nothing: its store already held the toplevel');
  const cloned = fact('clone.commits') as { dir?: string } | undefined;
  const clone = cloned?.dir ? { dir: cloned.dir, madeByThisRun: !!e.runId && cloned.dir.split('/').includes(e.runId) } : undefined;
  if (clone && !clone.madeByThisRun) reasons.push(`the clone ${clone.dir} is not in this run's work dir`);
  const cold = reasons.length === 0;
  const parts = [
    `harness ${harness.commit.slice(0, 12)} ${harness.freshClone ? 'fresh clone' : 'not a fresh clone'}${harness.dirty || harness.untracked ? ', changed' : ', clean'}`,
    `node_modules ${harness.nodeModules.fromLockfile ? (nodeModulesInThisRun ? 'from the lockfile in this run' : 'from the lockfile earlier') : 'not from the lockfile'}`,
    ...(clone?.madeByThisRun ? [`clone made by this run (${clone.dir})`] : []),
    ...(throwaway ? [`throwaway ${throwaway.name} made ${throwaway.secondsAfterStart ?? '?'}s after the start`] : []),
    ...(build
      ? [
          `build host ${build.host ? `${build.host} ` : ''}built ${build.derivationsBuilt ?? 'an unknown number of'} derivation(s)${
            build.onLiveHost
              ? build.derivationsBuilt === 0
                ? ' on the live host itself: its store holds the live toplevel by nature, not a cache of an earlier run'
                : ' on the live host itself'
              : ''
          }`,
        ]
      : []),
  ];
  return {
    cold,
    reasons,
    line: `${cold ? 'cold' : `not cold: ${reasons.join('; ')}`} (${parts.join('; ')})`,
    harness,
    nodeModulesInThisRun,
    throwaway,
    build,
    clone,
    ledger: fact('c4.provisioningLedger'),
  };
}
