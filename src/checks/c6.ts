import { claimThat } from '../claim';
import { type Incus, type Instance, LABEL, labelsOf, parseIncusBytes, showSize } from '../drivers/incus';
import type { RunContext } from '../run/context';
import { incusOf, throwawayVm } from '../tasks/throwaway';

// C6: the live VM and the throwaway are the size the plan says, and nothing the harness made is
// left in the Incus project.

/** What a VM's guest may keep below its limit (the kernel's own): MemTotal reads 90-100 % of it. */
const GUEST_RESERVE = 0.1;

interface MemoryReading {
  name: string;
  configured?: string;
  configuredBytes?: number;
  runningBytes?: number;
  problems: string[];
}

/** limits.memory as Incus expands it, in bytes by Incus's rules, and what the running instance has. */
function memoryOf(i: Instance | undefined, name: string, expectedBytes: number): MemoryReading {
  if (!i) return { name, problems: [`no instance ${name}`] };
  const configured = i.expanded_config?.['limits.memory'] ?? i.config['limits.memory'];
  const configuredBytes = configured === undefined ? undefined : parseIncusBytes(configured);
  const runningBytes = i.state?.memory?.total;
  const problems: string[] = [];
  if (configuredBytes !== expectedBytes) problems.push(`limits.memory = ${showSize(configured, configuredBytes)}`);
  if (i.status !== 'Running' || runningBytes === undefined || runningBytes === 0) problems.push(`not running (${i.status}), so no memory in use to read`);
  else if (runningBytes > expectedBytes || runningBytes < expectedBytes * (1 - GUEST_RESERVE))
    problems.push(`it runs with ${runningBytes} bytes (state.memory.total)`);
  return { name, configured, configuredBytes, runningBytes, problems };
}

function claimMemory(run: RunContext, what: string, reading: MemoryReading, size: string, host: string, evidence: string): void {
  const expectedBytes = parseIncusBytes(size);
  run.recorder.fact(
    what === 'live' ? 'c6.liveInstance' : 'c6.throwaway',
    {
      name: reading.name,
      limitsMemory: reading.configured ?? null,
      bytes: reading.configuredBytes ?? null,
      runningBytes: reading.runningBytes ?? null,
      expected: showSize(size),
    },
    host,
  );
  claimThat(reading.problems.length === 0, {
    claim: `${what === 'live' ? reading.name : `the throwaway VM ${reading.name}`} is sized at ${size}, configured and running`,
    expected: `limits.memory = ${showSize(size, expectedBytes)} by Incus's units, and the running instance at most that and at least ${Math.round((1 - GUEST_RESERVE) * 100)} % of it`,
    seen: reading.problems.join('; '),
    host,
    evidence: [evidence],
  });
}

export async function claimLiveInstanceMemory(run: RunContext, size: string): Promise<void> {
  const incus = incusOf(run);
  const name = run.profile.incus!.liveInstance;
  const expected = sizeBytes(size);
  claimMemory(run, 'live', memoryOf(await incus.get(name), name, expected), size, incus.host.name, incus.lastListEvidence);
}

export async function claimThrowawayMemory(run: RunContext, size: string): Promise<void> {
  const vm = await throwawayVm(run);
  const expected = sizeBytes(size);
  claimMemory(run, 'throwaway', memoryOf(await vm.incus.get(vm.name), vm.name, expected), size, vm.incus.host.name, vm.incus.lastListEvidence);
}

function sizeBytes(size: string): number {
  const b = parseIncusBytes(size);
  if (b === undefined) throw new Error(`the feature's size ${JSON.stringify(size)} is not a size Incus accepts`);
  return b;
}

/**
 * No instance is left in the project but the live one and those the operator keeps (--keep, or
 * labelled keep=operator): an unlabelled VM made by hand counts, and so does one this harness kept
 * for debugging.
 */
export async function claimNoLeftovers(run: RunContext): Promise<void> {
  const incus: Incus = incusOf(run);
  const all = await incus.list();
  const live = run.profile.incus!.liveInstance;
  const keptBy = (i: Instance) =>
    i.name === live
      ? 'the live instance'
      : run.params.keep.includes(i.name)
        ? '--keep'
        : i.config[`${LABEL}.keep`] === 'operator'
          ? 'keep=operator'
          : undefined;
  const left = all.filter((i) => !keptBy(i) && !run.throwaways.has(i.name));
  const describe = (i: Instance) => {
    const l = labelsOf(i);
    if (!l) return `${i.name} (no labels: not made by this harness)`;
    return `${i.name} (run ${l.run}, expires ${l.expires}${l.keep ? `, kept: ${l.keep}` : ''})`;
  };
  run.recorder.fact(
    'c6.instances',
    all.map((i) => ({ name: i.name, labelled: !!labelsOf(i), run: labelsOf(i)?.run, keptBy: keptBy(i) ?? null, keepLabel: i.config[`${LABEL}.keep`] ?? null })),
    incus.host.name,
  );
  claimThat(left.length === 0, {
    claim: 'no throwaway VM is left behind: nothing in the project but the live instance and what the operator keeps',
    expected: `only ${[live, ...all.filter((i) => keptBy(i) && i.name !== live).map((i) => `${i.name} (${keptBy(i)})`)].join(', ')} in ${incus.project}`,
    seen: `also: ${left.map(describe).join(', ')}`,
    host: incus.host.name,
    evidence: [incus.lastListEvidence],
  });
}
