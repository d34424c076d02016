import { Files } from '../drivers/files';
import { claimThat, listed } from '../claim';
import type { RunContext } from '../run/context';
import { converged, Docker, type SwarmService } from '../drivers/docker';
import { lastLines } from '../drivers/host';
import { provisioningOf } from '../drivers/incus';
import { poll } from '../wait';
import { throwawayInstall, throwawayVm, type Installed } from '../tasks/throwaway';
import { liveSystem } from '../tasks/system';
import { gitCert, servedOnHost } from './c2';
import { claimSecretsInMemory } from './c3';

// C4, the throwaway live rebuild: a blank VM with only the recovery key, the repos cloned
// recursively and ONE nixos-rebuild switch, as docs/install.md says, becomes cc-ci.

export async function claimNothingPreprovisioned(run: RunContext): Promise<void> {
  const vm = await throwawayVm(run);
  run.recorder.fact('c4.beforeProvisioning', { scanned: vm.scanned, found: vm.preexisting, imageBaseline: run.profile.throwaway!.imageBaseline }, vm.name);
  claimThat(vm.preexisting.length === 0, {
    claim: `before the harness provisioned anything, the blank VM held nothing beyond its image`,
    expected: `no file under ${vm.scanned.join(' ')} (apart from the profile's image baseline)`,
    seen: listed(vm.preexisting),
    host: vm.name,
    evidence: [vm.baselineEvidence],
  });
}

/** Incus gives the VM nothing itself: read from what Incus reports for the instance, not from what the harness asked for. */
export async function claimIncusProvisionsNothing(run: RunContext): Promise<void> {
  const vm = await throwawayVm(run);
  const i = await vm.incus.get(vm.name);
  const found = i ? provisioningOf(i) : [];
  run.recorder.fact(
    'c4.incusProvisioning',
    { profiles: i?.profiles, found, devices: i?.expanded_devices, configKeys: Object.keys(i?.expanded_config ?? {}) },
    vm.incus.host.name,
  );
  claimThat(!!i && found.length === 0, {
    claim: 'Incus hands the VM nothing of its own: no cloud-init or user-data, no environment.* keys, no device but its network and root disk',
    expected: `none of these in the expanded config and devices of ${vm.name}`,
    seen: i ? listed(found) : `no instance ${vm.name} in project ${vm.incus.project}`,
    host: vm.incus.host.name,
    evidence: [vm.incus.lastListEvidence],
  });
}

export async function claimLedger(run: RunContext): Promise<void> {
  const vm = await throwawayVm(run);
  const t = run.profile.throwaway!;
  run.recorder.fact(
    'c4.provisioningLedger',
    vm.ledger.map(({ what, kind, path, mode, bytes }) => ({ what, kind, path, mode, bytes })),
    vm.name,
  );
  const keys = vm.ledger.filter((l) => l.kind === 'recovery-key');
  const allowed = new Set(t.cloneCredentials.map((c) => c.path));
  const others = vm.ledger.filter((l) => l.kind !== 'recovery-key' && !allowed.has(l.path));
  // The VM's own files, not only the harness's list: what appeared must be exactly what was pushed.
  const pushed = new Set(vm.ledger.map((l) => l.path));
  const unlisted = vm.appeared.filter((p) => !pushed.has(p));
  const absent = [...pushed].filter((p) => !vm.appeared.includes(p));
  run.recorder.fact('c4.appeared', { appeared: vm.appeared, unlisted, absent }, vm.name);
  claimThat(unlisted.length === 0 && absent.length === 0, {
    claim: 'what appeared on the VM while the harness provisioned it is exactly what its ledger lists',
    expected: `new files under ${vm.scanned.join(' ')}: ${[...pushed].join(', ')}`,
    seen: [unlisted.length ? `also: ${listed(unlisted)}` : '', absent.length ? `missing: ${absent.join(', ')}` : ''].filter(Boolean).join('; '),
    host: vm.name,
    evidence: [vm.baselineEvidence, vm.afterEvidence],
  });
  claimThat(keys.length === 1 && keys[0]!.path === run.profile.secrets.keyFile && keys[0]!.mode === '0600' && others.length === 0, {
    claim: 'exactly one secret was provisioned, the recovery key, plus the clone credentials the profile names',
    expected: `the recovery key at ${run.profile.secrets.keyFile} (0600)${allowed.size ? ` and ${[...allowed].join(', ')}` : ''}`,
    seen: vm.ledger.map((l) => `${l.what} at ${l.path} (${l.mode})`).join(', '),
    host: vm.name,
    evidence: vm.ledger.map((l) => l.evidence),
  });
}

/** The install procedure, run (once) on the VM; the claims look at the state it left. */
export function installed(run: RunContext): Promise<Installed> {
  return throwawayInstall(run);
}

export async function claimRunning(run: RunContext): Promise<void> {
  const i = await installed(run);
  const s = i.settle;
  const f = i.failed;
  claimThat(!f, {
    claim: `every install step of ${i.doc} succeeds on the blank VM`,
    expected: 'every install step exits 0',
    seen: f
      ? `\`${f.block.split('\n')[0]}\` exited ${f.result.exitCode}: ${whyFailed(f.result)}; then the VM was ${s.state}${s.failedUnits.length ? `, failed: ${s.failedUnits.join(', ')}` : ''}`
      : '',
    host: i.vm.name,
    evidence: f ? [f.result.evidence, ...s.evidence] : [],
  });
  run.recorder.fact(
    'c4.install',
    { steps: i.steps.map((st) => ({ block: st.block, exitCode: st.result.exitCode, seconds: Math.round(st.result.durationMs / 1000) })), switches: i.switches },
    i.vm.name,
  );
  // Observed, not read from the doc: the install steps add exactly one system generation, the one now running.
  const { before, after } = i.generations;
  const added = after.links.filter((l) => !before.links.some((b) => b.name === l.name));
  const current = await new Files(i.vm.host).resolve('/run/current-system');
  run.recorder.fact('c4.generations', { before: before.links, after: after.links, added, current: current.ok ? current.stdout.trim() : null }, i.vm.name);
  claimThat(added.length === 1 && added[0]!.target === current.stdout.trim(), {
    claim: 'the install steps ran exactly one nixos-rebuild switch: the system profile gained one generation, the system now running',
    expected: `one new /nix/var/nix/profiles/system-N-link (there were ${before.links.length}), pointing at /run/current-system`,
    seen: added.length
      ? `${added.length} new: ${added.map((l) => `${l.name} -> ${l.target}`).join(', ')}; /run/current-system -> ${current.stdout.trim() || '(none)'}`
      : `no new generation (still ${after.links.map((l) => l.name).join(', ') || 'none'}); /run/current-system -> ${current.stdout.trim() || '(none)'}`,
    host: i.vm.name,
    evidence: [before.evidence, after.evidence, current.evidence],
  });
  run.recorder.fact(
    'c4.settle',
    {
      state: s.state,
      failedUnits: s.failedUnits,
      waitedSeconds: Math.round(s.waitedMs / 1000),
      deadlineSeconds: s.deadlineMs / 1000,
      stableSeconds: s.stableMs / 1000,
      polls: s.polls,
      history: s.history,
    },
    i.vm.name,
  );
  claimThat(s.state === 'running' && s.failedUnits.length === 0, {
    claim: `after one nixos-rebuild switch the VM is running with no failed unit, and stays so`,
    expected: `systemctl is-system-running = running and systemctl --failed empty for ${s.stableMs / 1000}s in a row, within ${s.deadlineMs / 1000}s`,
    seen: `${s.state}${s.failedUnits.length ? `, failed: ${s.failedUnits.join(', ')}` : ''} after ${Math.round(s.waitedMs / 1000)}s; seen: ${s.history.join(' → ')}`,
    host: i.vm.name,
    evidence: s.evidence,
  });
}

/**
 * Why a step failed, in the words that matter: an activation snippet that failed (sops-nix's
 * setupSecrets shows only there, not as a failed unit), a decryption error, then the last lines.
 */
export function whyFailed(r: { stdout: string; stderr: string }): string {
  const lines = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const notable = lines.filter((l) => /^Activation script snippet '.*' failed|failed to decrypt|^error:/i.test(l)).slice(0, 3);
  return [...notable, ...lines.slice(-2).filter((l) => !notable.includes(l))].join(' | ') || '(no output)';
}

export async function claimSameToplevel(run: RunContext): Promise<void> {
  const i = await installed(run);
  const vm = await new Files(i.vm.host).resolve('/run/current-system', { mustExist: true });
  const toplevel = vm.ok ? vm.stdout.trim() : undefined;
  const live = await liveSystem(run);
  run.recorder.fact('c4.toplevel', { vm: toplevel ?? null, live: live.toplevel }, i.vm.name);
  claimThat(toplevel === live.toplevel, {
    claim: "the rebuilt VM runs the live host's system",
    expected: `${live.toplevel} (readlink -f /run/current-system on ${run.profile.roles.live})`,
    seen: `${toplevel ?? 'no /run/current-system'} on ${i.vm.name}`,
    host: `${i.vm.name} and ${run.profile.roles.live}`,
    evidence: [vm.evidence, live.evidence],
  });
}

/**
 * Every Swarm service converges (runs its desired replicas; a job completes all its tasks) and
 * stays so for the profile's stable window, in the expected number of stacks: one sample is not
 * enough, a crash-looping service reads 1/1 between its restarts.
 */
export async function claimStacks(run: RunContext): Promise<void> {
  const i = await installed(run);
  const t = run.profile.throwaway!;
  const docker = new Docker(i.vm.host);
  const t0 = Date.now();
  const history: string[] = [];
  let last: { services: SwarmService[]; stacks: string[]; evidence: string[]; problems: string[] } | undefined;
  let stableSince: number | undefined;
  const { value, waited } = await poll(
    // After a failed install there is nothing to wait for: one look says what is there.
    {
      what: 'every Swarm service on the VM to converge and stay converged',
      deadlineMs: i.failed ? 0 : t.stacksSettle,
      pauseMs: 500,
      maxPauseMs: 1000,
      recorder: run.recorder,
      key: 'stacks',
      host: i.vm.name,
    },
    async () => {
      const [svc, st] = await Promise.all([docker.services({ allowMissing: true }), docker.stacks({ allowMissing: true })]);
      const problems = [
        ...(svc.result.ok ? [] : [`docker service ls exited ${svc.result.exitCode}: ${lastLines(svc.result.stderr, 1)}`]),
        ...(st.result.ok ? [] : [`docker stack ls exited ${st.result.exitCode}: ${lastLines(st.result.stderr, 1)}`]),
        ...(st.stacks.length === run.profile.stacks ? [] : [`${st.stacks.length} stacks`]),
        ...svc.services.filter((s) => !converged(s)).map((s) => `${s.name} ${s.text}`),
      ];
      last = { services: svc.services, stacks: st.stacks, evidence: [svc.result.evidence, st.result.evidence], problems };
      const sample = problems.length ? problems.join(', ') : 'converged';
      if (!history.at(-1)?.endsWith(` ${sample}`)) history.push(`+${((Date.now() - t0) / 1000).toFixed(1)}s ${sample}`);
      if (problems.length) {
        stableSince = undefined;
        return undefined;
      }
      stableSince ??= Date.now();
      return Date.now() - stableSince >= t.stacksStable ? true : undefined;
    },
  );
  run.recorder.fact('c4.swarm', { stacks: last?.stacks, services: last?.services, history, stableSeconds: t.stacksStable / 1000 }, i.vm.name);
  claimThat(value === true, {
    claim: 'every Swarm service on the VM runs at its desired replicas (jobs: completed), in the expected number of stacks, and stays so',
    expected: `${run.profile.stacks} stacks, every service converged for ${t.stacksStable / 1000}s in a row, within ${t.stacksSettle / 1000}s`,
    seen: `${last?.stacks.length ?? 0} stacks (${last?.stacks.join(', ')}); ${waited.met ? '' : `after ${Math.round(waited.waitedMs / 1000)}s: `}${last?.problems.length ? `short: ${last.problems.join(', ')}` : 'converged, but not for long enough'}; seen: ${history.join(' → ')}`,
    host: i.vm.name,
    evidence: last?.evidence ?? [],
  });
}

export async function claimSecretsOnVm(run: RunContext): Promise<void> {
  const i = await installed(run);
  await claimSecretsInMemory(run, i.vm.host);
}

export async function claimVmServesGitCert(run: RunContext): Promise<void> {
  const i = await installed(run);
  const [git, served] = await Promise.all([gitCert(run), servedOnHost(run, i.vm.host)]);
  run.recorder.fact('c4.tls', { git: git.fingerprint, servedOnVm: served.fingerprint, error: served.error ?? git.error }, i.vm.name);
  claimThat(!!git.fingerprint && served.fingerprint === git.fingerprint, {
    claim: 'the leaf the VM serves on its own 127.0.0.1:443 for the dashboard is the cert in git',
    expected: `${git.fingerprint ?? `(the git cert: ${git.error})`}`,
    seen: served.fingerprint ?? served.error ?? '?',
    host: i.vm.name,
    evidence: [served.evidence, git.evidence],
  });
}
