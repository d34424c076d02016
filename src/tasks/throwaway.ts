import { shellQuote } from '../drivers/host';
import { claimThat } from '../claim';
import { HostBrokenError } from '../errors';
import type { CommandResult, Host } from '../drivers/host';
import { Files } from '../drivers/files';
import { Incus, labelsOf, LABEL } from '../drivers/incus';
import { Nix } from '../drivers/nix';
import { Systemd } from '../drivers/systemd';
import { readCredentialFile } from '../profile/load';
import type { HostPool } from '../drivers/pool';
import type { Profile } from '../profile/schema';
import type { RunContext } from '../run/context';
import { recursiveClone } from './repos';
import { poll } from '../wait';

// The throwaway live rebuild: a blank VM, given only the recovery key and the credentials to
// clone, follows docs/install.md; one `nixos-rebuild switch` must make it cc-ci.

export interface LedgerEntry {
  what: string;
  kind: 'recovery-key' | 'clone-credential';
  path: string;
  mode: string;
  bytes: number;
  evidence: string;
}

export interface ThrowawayVm {
  name: string;
  host: Host;
  incus: Incus;
  config: Record<string, string>;
  /** Files in the VM's writable directories before the harness provisioned anything. */
  preexisting: string[];
  scanned: string[];
  baselineEvidence: string;
  ledger: LedgerEntry[];
  /** Files in the writable directories after provisioning that were not there before: read from the VM. */
  appeared: string[];
  afterEvidence: string;
}

export interface InstallStep {
  block: string;
  result: CommandResult;
}

/** The system profile's generations (/nix/var/nix/profiles/system-N-link) and what they point at. */
export interface Generations {
  links: { name: string; target: string }[];
  evidence: string;
}

export interface Installed {
  vm: ThrowawayVm;
  doc: string;
  steps: InstallStep[];
  switches: number;
  /** Before the first install step and after the last: a switch adds exactly one. */
  generations: { before: Generations; after: Generations };
  /** Set when a step failed: the rest did not run. */
  failed?: InstallStep;
  settle: Settled;
}

export interface Settled {
  state: string;
  failedUnits: string[];
  waitedMs: number;
  deadlineMs: number;
  /** How long running with no failed unit had to hold. */
  stableMs: number;
  polls: number;
  /** Each change of state seen, with its time since the wait began. */
  history: string[];
  evidence: string[];
}

const WRITABLE_DIRS = ['/root', '/var/lib', '/srv', '/home', '/opt', '/etc/ssh'];
export function incusFor(profile: Profile, pool: HostPool): Incus {
  const cfg = profile.incus;
  if (!cfg)
    throw new HostBrokenError({ claim: 'the profile has no incus section', expected: 'incus: { host, project, image, … }', seen: 'none', host: 'runner' });
  return new Incus(pool.get(cfg.host), cfg.command, cfg.project);
}

export function incusOf(run: RunContext): Incus {
  return incusFor(run.profile, run.pool);
}

export function throwawayName(run: RunContext): string {
  return `${run.profile.throwaway!.namePrefix}-${run.params.runId}`;
}

/** A blank labelled VM with the recovery key and the clone credentials, made once per run. */
export function throwawayVm(run: RunContext): Promise<ThrowawayVm> {
  return run.once('throwaway-vm', async () => {
    const t = run.profile.throwaway;
    const cfg = run.profile.incus;
    if (!t || !cfg)
      throw new HostBrokenError({ claim: 'the profile has no throwaway section', expected: 'throwaway: { recoveryKey, … }', seen: 'none', host: 'runner' });
    const incus = incusOf(run);
    const name = throwawayName(run);
    const config = {
      'limits.memory': t.memory,
      'limits.cpu': String(t.cpu),
      'security.secureboot': 'false',
      ...Incus.labels(run.params.runId, t.ttl),
    };
    run.recorder.progress(`[${cfg.host}] creating the throwaway VM ${name} (${t.memory}, ${t.cpu} CPU) in project ${cfg.project}`);
    // Counted before it exists: an interrupt during the launch still deletes (or names) it.
    run.throwaways.add(name);
    const launched = await incus.launch(name, cfg.image, { vm: cfg.vm, config });
    if (!launched.ok) {
      throw new HostBrokenError({
        claim: `could not create the throwaway VM ${name}`,
        expected: `incus launch ${cfg.image} ${name} to succeed`,
        seen: `exit ${launched.exitCode}: ${launched.stderr.trim().split('\n').slice(-1)[0]}`,
        host: cfg.host,
        evidence: [launched.evidence],
      });
    }
    run.recorder.fact('throwaway.created', { name, createdAt: (await incus.get(name))?.created_at }, cfg.host);
    const host = run.pool.addHost(name, incus.execTransport(run.pool.transportOf(cfg.host), name));
    await waitForAgent(host, 120_000);

    // Whatever lies in the writable directories now came with the image or from elsewhere.
    const files = new Files(host);
    const scan = await files.tree(WRITABLE_DIRS);
    const underBaseline = (p: string) => t.imageBaselineUnder.some((d) => p.startsWith(`${d.replace(/\/+$/, '')}/`));
    const preexisting = scan.paths.filter((p) => !t.imageBaseline.includes(p) && !underBaseline(p));

    const ledger: LedgerEntry[] = [];
    const push = async (what: string, kind: LedgerEntry['kind'], file: string, path: string, mode: string, field: string) => {
      const content = readCredentialFile(file, field);
      // A file pushed readable by others (a known_hosts) is public; anything else is a secret.
      if ((parseInt(mode, 8) & 0o044) === 0) run.recorder.redactor.add(what, content);
      const r = await incus.pushFile(name, content, path, mode);
      if (!r.ok) {
        throw new HostBrokenError({
          claim: `could not provision ${what} on ${name}`,
          expected: `incus file push to ${path} to succeed`,
          seen: `exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-1)[0]}`,
          host: incus.host.name,
          evidence: [r.evidence],
        });
      }
      ledger.push({ what, kind, path, mode, bytes: Buffer.byteLength(content), evidence: r.evidence });
    };
    await push('recovery key', 'recovery-key', t.recoveryKey.file, run.profile.secrets.keyFile, '0600', 'throwaway.recoveryKey.file');
    for (const [i, c] of t.cloneCredentials.entries())
      await push(c.name, 'clone-credential', c.source.file, c.path, c.mode, `throwaway.cloneCredentials.${i}.source.file`);
    // What the VM holds now, read from it: beyond the baseline, only what the ledger says was pushed.
    const after = await files.tree(WRITABLE_DIRS);
    const before = new Set(scan.paths);
    const appeared = after.paths.filter((p) => !before.has(p) && !t.imageLater.includes(p) && !underBaseline(p));
    const listed = await incus.get(name);
    return {
      name,
      host,
      incus,
      config: listed?.expanded_config ?? listed?.config ?? config,
      preexisting,
      scanned: WRITABLE_DIRS,
      baselineEvidence: scan.result.evidence,
      ledger,
      appeared,
      afterEvidence: after.result.evidence,
    };
  });
}

async function waitForAgent(host: Host, deadlineMs: number): Promise<void> {
  let lastError: unknown;
  const { value } = await poll({ what: `the throwaway VM ${host.name} to answer incus exec`, deadlineMs, pauseMs: 250, maxPauseMs: 5000 }, async () => {
    try {
      return (await host.run(['true'])).ok ? true : undefined;
    } catch (e) {
      lastError = e;
      return undefined;
    }
  });
  if (value) return;
  if (lastError) throw lastError;
  throw new HostBrokenError({
    claim: `the throwaway VM ${host.name} did not answer incus exec`,
    expected: `an agent within ${deadlineMs / 1000}s`,
    seen: 'no answer',
    host: host.name,
  });
}

/** The shell blocks of docs/install.md marked as install steps, in order. */
export function installSteps(markdown: string): string[] {
  const blocks: string[] = [];
  const re = /^```(?:sh|bash|shell)[ \t]+install-step[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) blocks.push(m[1]!.trimEnd());
  return blocks;
}

/** A placeholder stands for one shell word: its value goes in quoted, so no value is ever run as shell. */
export function substitute(block: string, values: Record<string, string>): string {
  return Object.entries(values).reduce((b, [k, v]) => b.split(k).join(shellQuote([v])), block);
}

/** The procedure of docs/install.md, run on the throwaway VM, then the wait for it to settle. */
export function throwawayInstall(run: RunContext): Promise<Installed> {
  return run.once('throwaway-install', async () => {
    const vm = await throwawayVm(run);
    const clone = await recursiveClone(run);
    const build = run.pool.role('build');
    const docPath = run.profile.docs.install;
    const docRead = await build.run(['cat', `${clone.dir}/${docPath}`]);
    claimThat(clone.result.ok && docRead.ok, {
      claim: `the base repo has ${docPath}, the install procedure`,
      expected: `${docPath} in a clean clone`,
      seen: clone.result.ok ? docRead.stderr.trim() : `the clone failed: ${clone.result.stderr.trim().split('\n').slice(-1)[0]}`,
      host: build.name,
      evidence: [docRead.evidence],
    });
    const values = { '<base-repo-url>': run.profile.repos.base.url, ...run.profile.throwaway!.placeholders };
    const blocks = installSteps(docRead.stdout).map((b) => substitute(b, values));
    const switches = blocks.reduce((n, b) => n + (b.match(/\bnixos-rebuild\s+switch\b/g)?.length ?? 0), 0);
    run.recorder.fact('c4.installDoc', { path: docPath, steps: blocks, switches }, build.name);
    claimThat(blocks.length > 0 && switches === 1, {
      claim: `${docPath} is a procedure with exactly one nixos-rebuild switch`,
      expected: 'install-step blocks, exactly one of them with `nixos-rebuild switch`',
      seen: `${blocks.length} install-step block(s), ${switches} nixos-rebuild switch`,
      host: build.name,
      evidence: [docRead.evidence],
    });
    const before = await generations(vm.host);
    const steps: InstallStep[] = [];
    for (const block of blocks) {
      // A step that runs a command the VM lacks is a step that fails: the doc is wrong, not the harness.
      const result = await vm.host.run(['bash', '-euo', 'pipefail', '-c', block], {
        cwd: '/root',
        timeoutMs: run.profile.timeouts.build,
        stream: true,
        allowMissing: true,
      });
      steps.push({ block, result });
      if (!result.ok) break;
    }
    // Whatever the steps left behind is what the claims look at (a switch with failed units still switched).
    const failed = steps.find((s) => !s.result.ok);
    const after = await generations(vm.host);
    return {
      vm,
      doc: docPath,
      steps,
      switches,
      generations: { before, after },
      failed,
      settle: await settle(vm.host, run.profile.throwaway!.settle, run.profile.throwaway!.settleStable),
    };
  });
}

/** What `nixos-rebuild switch` adds to: the system profile's numbered generations. */
export function generations(host: Host): Promise<Generations> {
  return new Nix(host, 0).systemGenerations();
}

/**
 * Waits, with backoff and a deadline, until the system settles: running with no failed unit and
 * still so after the stable window (a unit that dies a second after its start is seen), or a
 * final state (degraded, …) that three polls in a row agree on. Starting states wait.
 */
export async function settle(host: Host, deadlineMs: number, stableMs = 0): Promise<Settled> {
  const systemd = new Systemd(host);
  const t0 = Date.now();
  const history: string[] = [];
  let last = '';
  let same = 0;
  let stableSince: number | undefined;
  let seen: Omit<Settled, 'waitedMs' | 'deadlineMs' | 'stableMs' | 'polls' | 'history'> | undefined;
  const { waited } = await poll(
    { what: `${host.name} to settle`, deadlineMs, pauseMs: 500, maxPauseMs: stableMs ? Math.min(10_000, Math.max(500, stableMs / 4)) : 10_000 },
    async () => {
      const { state: s, result: state } = await systemd.systemState();
      const { units: failedUnits, result: failed } = await systemd.failedUnits();
      const now = `${s}${failedUnits.length ? ` failed: ${failedUnits.join(', ')}` : ''}`;
      same = now === last ? same + 1 : 1;
      if (now !== last) history.push(`+${((Date.now() - t0) / 1000).toFixed(1)}s ${now}`);
      last = now;
      seen = { state: s, failedUnits, evidence: [state.evidence, failed.evidence] };
      if (s === 'running' && failedUnits.length === 0) {
        stableSince ??= Date.now();
        return Date.now() - stableSince >= stableMs ? true : undefined;
      }
      stableSince = undefined;
      return !['initializing', 'starting'].includes(s) && same >= 3 ? true : undefined;
    },
  );
  return { ...seen!, waitedMs: waited.waitedMs, deadlineMs, stableMs, polls: waited.polls, history };
}

/** Throwaways this run made: deleted under the destroy policy, or kept and labelled why. */
export async function finishThrowaways(run: RunContext, policy: 'passing' | 'always' | 'never', failed: boolean): Promise<void> {
  if (!run.profile.incus) return;
  const incus = incusOf(run);
  for (const name of [...run.throwaways]) {
    if (!(await incus.get(name))) {
      run.recorder.progress(
        `the throwaway VM ${name} does not exist (its launch did not finish); if it appears later, \`npm run janitor\` deletes it after its expiry`,
      );
      run.throwaways.delete(name);
      continue;
    }
    const destroy = !run.params.keep.includes(name) && (policy === 'always' || (policy === 'passing' && !failed));
    if (destroy) {
      run.recorder.progress(`[${incus.host.name}] deleting the throwaway VM ${name}`);
      await incus.delete(name);
      run.throwaways.delete(name);
      run.recorder.fact('throwaway.deleted', name, incus.host.name);
      continue;
    }
    const why = run.params.keep.includes(name) ? 'operator' : failed ? 'debugging a failed rebuild' : `--destroy ${policy}`;
    await incus.setConfig(name, `${LABEL}.keep`, why);
    const expires = labelsOf((await incus.get(name))!)?.expires;
    run.recorder.progress(`kept the throwaway VM ${name} (${why}); it expires ${expires}; \`npm run janitor\` deletes it after that`);
    run.recorder.fact('throwaway.kept', { name, why, expires }, incus.host.name);
    run.throwaways.delete(name);
  }
}
