import { claimThat, listed } from '../claim';
import type { RunContext } from '../run/context';
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

export async function claimLedger(run: RunContext): Promise<void> {
  const vm = await throwawayVm(run);
  const t = run.profile.throwaway!;
  run.recorder.fact('c4.provisioningLedger', vm.ledger.map(({ what, kind, path, mode, bytes }) => ({ what, kind, path, mode, bytes })), vm.name);
  const keys = vm.ledger.filter((l) => l.kind === 'recovery-key');
  const allowed = new Set(t.cloneCredentials.map((c) => c.path));
  const others = vm.ledger.filter((l) => l.kind !== 'recovery-key' && !allowed.has(l.path));
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
    seen: f ? `\`${f.block.split('\n')[0]}\` exited ${f.result.exitCode}: ${f.result.stderr.trim().split('\n').slice(-2).join(' | ')}; then the VM was ${s.state}${s.failedUnits.length ? `, failed: ${s.failedUnits.join(', ')}` : ''}` : '',
    host: i.vm.name,
    evidence: f ? [f.result.evidence, ...s.evidence] : [],
  });
  run.recorder.fact('c4.install', { steps: i.steps.map((st) => ({ block: st.block, exitCode: st.result.exitCode, seconds: Math.round(st.result.durationMs / 1000) })), switches: i.switches }, i.vm.name);
  run.recorder.fact('c4.settle', { state: s.state, failedUnits: s.failedUnits, waitedSeconds: Math.round(s.waitedMs / 1000), deadlineSeconds: s.deadlineMs / 1000, polls: s.polls }, i.vm.name);
  claimThat(s.state === 'running' && s.failedUnits.length === 0, {
    claim: `after one nixos-rebuild switch the VM is running with no failed unit`,
    expected: `systemctl is-system-running = running and systemctl --failed empty, within ${s.deadlineMs / 1000}s`,
    seen: `${s.state}${s.failedUnits.length ? `, failed: ${s.failedUnits.join(', ')}` : ''} after ${Math.round(s.waitedMs / 1000)}s`,
    host: i.vm.name,
    evidence: s.evidence,
  });
}

export async function claimSameToplevel(run: RunContext): Promise<void> {
  const i = await installed(run);
  const vm = await i.vm.host.run(['readlink', '-e', '/run/current-system']);
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

export async function claimStacks(run: RunContext): Promise<void> {
  const i = await installed(run);
  const services = await i.vm.host.run(['docker', 'service', 'ls', '--format', '{{.Name}}\t{{.Replicas}}']);
  const stacks = await i.vm.host.run(['docker', 'stack', 'ls', '--format', '{{.Name}}']);
  const rows = services.stdout.split('\n').filter(Boolean).map((l) => {
    const [name, replicas] = l.split('\t');
    const [running, desired] = (replicas ?? '').split('/').map(Number);
    return { name: name!, running: running ?? 0, desired: desired ?? 0 };
  });
  const stackNames = stacks.stdout.split('\n').filter(Boolean);
  const short = rows.filter((r) => !(r.desired > 0 && r.running === r.desired));
  run.recorder.fact('c4.swarm', { stacks: stackNames, services: rows }, i.vm.name);
  claimThat(services.ok && stacks.ok && short.length === 0 && stackNames.length === run.profile.stacks, {
    claim: 'every Swarm service on the VM runs at its desired replicas, in the expected number of stacks',
    expected: `${run.profile.stacks} stacks, every service running/desired equal`,
    seen: `${stackNames.length} stacks (${stackNames.join(', ')})${short.length ? `; short: ${short.map((r) => `${r.name} ${r.running}/${r.desired}`).join(', ')}` : ''}`,
    host: i.vm.name,
    evidence: [services.evidence, stacks.evidence],
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
    claim: "the leaf the VM serves on its own 127.0.0.1:443 for the dashboard is the cert in git",
    expected: `${git.fingerprint ?? `(the git cert: ${git.error})`}`,
    seen: served.fingerprint ?? served.error ?? '?',
    host: i.vm.name,
    evidence: [served.evidence, git.evidence],
  });
}
