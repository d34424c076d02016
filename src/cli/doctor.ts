import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { HostPool } from '../drivers/pool';
import { JsonClient } from '../drivers/http';
import { HostBrokenError, UsageError } from '../errors';
import type { Recorder } from '../evidence/recorder';
import { readSecretRef, referenceProblems } from '../profile/load';
import type { Profile, SecretRef } from '../profile/schema';
import { gateTagExpression, type PlannedScenario } from './plan';

// The doctor: read-only, for the first live run and every run after. For the scenarios selected
// it checks that every host answers with its key verified, every command the checks will run is
// there, every credential and reference can be read (never shown), the forge and CI tokens work,
// and the public names resolve where the profile expects. It changes nothing.

export interface DoctorRow {
  check: string;
  host: string;
  ok: boolean;
  /** What was seen: a version, a fingerprint, an error. */
  seen: string;
  /** What to do when it is not ok. */
  todo: string;
}

export interface ToolNeed {
  host: string;
  tool: string;
  argv: string[];
  todo: string;
}

/**
 * What a scenario needs of the world, beyond the profile's credentials: a host reached, a tool on
 * a host (build, live, the host that decrypts, the Incus host), a public name resolved from the
 * runner, the forge and CI tokens. The throwaway VM is not among them: it does not exist yet.
 */
export type Need =
  | 'build git'
  | 'build nix'
  | 'build nix-store'
  | 'build nixos-rebuild'
  | 'live'
  | 'live nix-store'
  | 'live openssl'
  | 'live docker'
  | 'decrypt sops'
  | 'decrypt openssl'
  | 'decrypt git'
  | 'decrypt scan tools'
  | 'incus'
  | 'incus image'
  | 'dashboard name'
  | 'gateway name'
  | 'tokens';

/** The clean recursive clone (or the mirror) on the build host, with git. */
const CLONE: Need[] = ['build git'];
/** The secrets file from that clone, decrypted on the host that holds a key. */
const DECRYPT: Need[] = [...CLONE, 'decrypt sops'];
/** A blank throwaway VM, launched with Incus from the profile's image. */
const VM: Need[] = ['incus', 'incus image'];
/** docs/install.md read from the clone on the build host and run on the VM. */
const INSTALL: Need[] = [...VM, ...CLONE];

/**
 * Each scenario's needs, by its tag, read from the code its steps run (src/checks, src/tasks):
 * where each command runs, and which tool it runs there.
 */
export const SCENARIO_NEEDS: Readonly<Record<string, readonly Need[]>> = {
  // C1: the mirror and the clone on the build host; the toplevel built there and read on the live host.
  '@c1-gitlink': CLONE,
  '@c1-gitmodules-url': CLONE,
  '@c1-no-secrets-file': CLONE,
  '@c1-clone-populates': CLONE,
  '@c1-toplevel-identical': [...CLONE, 'build nix', 'build nixos-rebuild', 'build nix-store', 'live', 'live nix-store'],
  // C2: the secrets file from the clone; the cert decrypted and digested with openssl on the host
  // that decrypts; the cert on the live host's disk and served on its 127.0.0.1:443 (openssl there);
  // the chain served to the runner at tls.connect.address for the dashboard's name.
  '@c2-cert-in-sops': CLONE,
  '@c2-cert-links': ['live'],
  '@c2-one-cert': [...DECRYPT, 'decrypt openssl', 'live', 'live openssl', 'dashboard name'],
  '@c2-chain': ['dashboard name'],
  '@c2-key-matches': ['live', 'live openssl'],
  '@c2-validity': ['live', 'live openssl'],
  // C3: the file's values, MAC and recipients; /run/secrets, the key file and the key scan on the
  // live host; the plaintext scans on the host that decrypts (the repo's history mirrored there).
  '@c3-all-encrypted': CLONE,
  '@c3-mac': DECRYPT,
  '@c3-recipients': CLONE,
  '@c3-secrets-in-memory': ['live'],
  '@c3-key-file': [...CLONE, 'build nix', 'live'],
  '@c3-no-stray-keys': ['live'],
  '@c3-no-plaintext-in-repo': [...DECRYPT, 'decrypt git', 'decrypt scan tools'],
  '@c3-no-plaintext-in-store': [...DECRYPT, 'decrypt scan tools'],
  // C4 (src/checks/c4.ts): everything else runs on the VM; @c4-toplevel reads the live host's
  // system, @c4-tls decrypts the git cert and digests it with openssl on the host that decrypts.
  '@c4-nothing-else': VM,
  '@c4-running': INSTALL,
  '@c4-toplevel': [...INSTALL, 'live', 'live nix-store'],
  '@c4-stacks': INSTALL,
  '@c4-secrets': INSTALL,
  '@c4-tls': [...INSTALL, ...DECRYPT, 'decrypt openssl'],
  // C5, C7 and DECISIONS.md: files of the clone. C6: Incus.
  '@c5-d8-says': CLONE,
  '@c5-d8-run': CLONE,
  '@c6-live-size': ['incus'],
  '@c6-throwaway-size': VM,
  '@c6-decisions': CLONE,
  '@c6-no-leftovers': ['incus'],
  '@c7-install': CLONE,
  '@c7-secrets': CLONE,
  '@c7-architecture': CLONE,
  '@c7-no-retired-steps': CLONE,
  // E2E: the forge and CI; the whole pipeline also reaches the app through the gateway and reads its stack on the live host.
  '@e2e-testme': ['tokens', 'gateway name', 'live', 'live docker'],
  '@e2e-non-member': ['tokens'],
  '@e2e-lookalike': ['tokens'],
};

/**
 * The needs of the selected scenarios. A scenario whose tags name none of SCENARIO_NEEDS (one
 * added since) needs everything its criterion's scenarios need: asked too much, never too little.
 */
export function needsOf(planned: PlannedScenario[]): Set<Need> {
  const needs = new Set<Need>();
  for (const p of planned) {
    const own = p.tags.filter((t) => t in SCENARIO_NEEDS);
    const criterion = p.tags.find((t) => /^@(C\d+|e2e)$/.test(t));
    const tags = own.length ? own : criterion ? Object.keys(SCENARIO_NEEDS).filter((t) => t.startsWith(`@${criterion.slice(1).toLowerCase()}-`)) : [];
    for (const t of tags) for (const n of SCENARIO_NEEDS[t]!) needs.add(n);
  }
  return needs;
}

const has = (planned: PlannedScenario[], ...tags: string[]) => planned.some((p) => tags.some((t) => p.tags.includes(t)));

/** The tools the selected checks run, on the hosts they run them on. */
export function toolsNeeded(profile: Profile, planned: PlannedScenario[]): ToolNeed[] {
  const { live, build } = profile.roles;
  const decrypt = profile.secrets.decryptOn ?? live;
  const needs = needsOf(planned);
  const tools: ToolNeed[] = [];
  const need = (host: string, tool: string, argv: string[], todo: string) => {
    if (!tools.some((n) => n.host === host && n.tool === tool)) tools.push({ host, tool, argv, todo });
  };
  const nixFlakes = ['nix', '--extra-experimental-features', 'nix-command flakes', 'eval', '--expr', '1'];
  const nixStore = ['sh', '-c', 'nix-store --version && nix-hash --version'];
  if (needs.has('build git')) need(build, 'git', ['git', '--version'], `install git on ${build}`);
  if (needs.has('build nix')) need(build, 'nix with flakes', nixFlakes, `install Nix on ${build} (flakes are enabled per command)`);
  if (needs.has('build nix-store')) need(build, 'nix-store and nix-hash', nixStore, `install Nix on ${build}`);
  if (needs.has('live nix-store')) need(live, 'nix-store and nix-hash', nixStore, `the live host needs Nix`);
  if (needs.has('build nixos-rebuild'))
    need(
      build,
      'nixos-rebuild',
      ['sh', '-c', 'command -v nixos-rebuild'],
      `nixos-rebuild must be on the PATH of ${build} (a NixOS host, or nixpkgs#nixos-rebuild)`,
    );
  if (needs.has('decrypt sops'))
    need(
      decrypt,
      'sops',
      [...profile.tools.sops, '--version'],
      `make sops runnable on ${decrypt}, or set tools.sops (e.g. [nix, shell, nixpkgs#sops, -c, sops]) to a command that works offline`,
    );
  if (needs.has('decrypt git')) need(decrypt, 'git', ['git', '--version'], `install git on ${decrypt}`);
  if (needs.has('decrypt scan tools'))
    need(
      decrypt,
      'bash and coreutils',
      ['bash', '-c', 'base64 --version >/dev/null && od --version >/dev/null && { awk --version >/dev/null 2>&1 || awk -W version >/dev/null 2>&1; }'],
      `the plaintext scan needs bash, base64, od and awk on ${decrypt}`,
    );
  if (needs.has('live openssl')) need(live, 'openssl', [...profile.tools.openssl, 'version'], `make openssl runnable on ${live}, or set tools.openssl`);
  if (needs.has('decrypt openssl'))
    need(decrypt, 'openssl', [...profile.tools.openssl, 'version'], `make openssl runnable on ${decrypt}, or set tools.openssl`);
  if (needs.has('live docker')) need(live, 'docker', ['docker', '--version'], `the E2E reads the app's stack with docker on ${live}`);
  if (profile.incus && needs.has('incus')) {
    const { host, command, project } = profile.incus;
    need(host, 'incus', [...command, '--version'], `install the incus client on ${host}, or set incus.command`);
    need(
      host,
      `incus access to ${project}`,
      [...command, 'list', '--project', project, '--format', 'json', '-c', 'n'],
      `give ${host} a remote and a client certificate with access to project ${project}`,
    );
    if (needs.has('incus image')) {
      need(
        host,
        `image ${profile.incus.image}`,
        [...command, 'image', 'info', profile.incus.image, '--project', project],
        `the throwaway image ${profile.incus.image} must exist (incus image list)`,
      );
    }
  }
  return tools;
}

/** The hosts the selected checks reach: those they run tools on, and the live host when a check reads it. */
export function hostsNeeded(profile: Profile, planned: PlannedScenario[], tools: ToolNeed[] = toolsNeeded(profile, planned)): string[] {
  const hosts = new Set(tools.map((t) => t.host));
  if (needsOf(planned).has('live')) hosts.add(profile.roles.live);
  return [...hosts];
}

/** The tag expression of a gate: its criteria, as `npm run acceptance -- --gate ID` selects them. */
export function tagsOfGate(profile: Profile, gate: string): string {
  const criteria = profile.gates[gate];
  if (!criteria) throw new UsageError(`--gate: profile ${profile.name} has no gate ${gate} (gates: ${Object.keys(profile.gates).join(', ')})`);
  return gateTagExpression(criteria);
}

/** Where a name resolves: every address (an address is itself). */
export type Resolver = (name: string) => Promise<string[]>;

/** The system's resolver, as node's connections (and the checks) use it: getaddrinfo. */
export const systemResolver: Resolver = async (name) => (await lookup(name, { all: true })).map((a) => a.address);

async function addressesOf(name: string, resolve: Resolver): Promise<{ addresses: string[] } | { error: string }> {
  if (isIP(name)) return { addresses: [name] };
  try {
    const addresses = await resolve(name);
    return addresses.length ? { addresses } : { error: 'no address' };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/**
 * The public names the selected checks connect to, resolved from the runner: the gateway (the
 * E2E asks it for the app, with the app's name as SNI) and the dashboard (C2 reads its chain at
 * tls.connect.address, with the dashboard's name as SNI). A pin that disagrees with DNS, or a
 * name the checks must resolve that does not resolve, is a FAIL; a name without a pin is shown.
 */
export async function nameRows(profile: Profile, planned: PlannedScenario[], resolve: Resolver = systemResolver): Promise<DoctorRow[]> {
  const needs = needsOf(planned);
  const rows: DoctorRow[] = [];
  const list = (a: string[]) => a.join(', ');
  const g = profile.e2e?.gateway;
  if (g && needs.has('gateway name')) {
    const name = g.address;
    const r = await addressesOf(name, resolve);
    const check = 'e2e.gateway.address resolves';
    if ('error' in r) {
      rows.push({
        check,
        host: 'runner',
        ok: false,
        seen: `${name}: ${r.error}`,
        todo: `make ${name} resolve from here: the E2E reaches every app through it (or set e2e.gateway.address to its address)`,
      });
    } else if (!g.expect?.length) {
      rows.push({ check, host: 'runner', ok: true, seen: `${name} -> ${list(r.addresses)}; not pinned (e2e.gateway.expect unset)`, todo: '' });
    } else {
      const elsewhere = r.addresses.filter((a) => !g.expect!.includes(a));
      rows.push({
        check,
        host: 'runner',
        ok: elsewhere.length === 0,
        seen: `${name} -> ${list(r.addresses)}${elsewhere.length ? '' : ', as pinned (e2e.gateway.expect)'}`,
        todo: elsewhere.length ? `${name} should resolve to ${list(g.expect)} (e2e.gateway.expect): fix DNS, or the pin` : '',
      });
    }
  }
  if (needs.has('dashboard name')) {
    const { tls } = profile;
    const name = tls.dashboard ?? profile.domain;
    const check = `${tls.dashboard ? 'tls.dashboard' : 'domain'} resolves`;
    const connect = tls.connect.address;
    const r = await addressesOf(name, resolve);
    if (connect.toLowerCase() === name.toLowerCase()) {
      // The checks connect to the name itself: nothing pins where it resolves, but it must resolve.
      rows.push(
        'error' in r
          ? {
              check,
              host: 'runner',
              ok: false,
              seen: `${name}: ${r.error}`,
              todo: `make ${name} resolve from here: the TLS checks connect to it (tls.connect.address), or set tls.connect.address to its address`,
            }
          : { check, host: 'runner', ok: true, seen: `${name} -> ${list(r.addresses)}; not pinned (tls.connect.address is the name itself)`, todo: '' },
      );
    } else {
      // tls.connect.address pins where the checks reach the dashboard, as curl --resolve would.
      const pin = await addressesOf(connect, resolve);
      const at = 'error' in pin || (pin.addresses.length === 1 && pin.addresses[0] === connect) ? connect : `${connect} (${list(pin.addresses)})`;
      if ('error' in pin) {
        rows.push({
          check,
          host: 'runner',
          ok: false,
          seen: `the checks connect to ${connect} (tls.connect.address), which does not resolve: ${pin.error}`,
          todo: `make ${connect} resolve from here, or set tls.connect.address to the address that serves ${name}`,
        });
      } else if ('error' in r) {
        rows.push({
          check,
          host: 'runner',
          ok: true,
          seen: `${name} does not resolve from here (${r.error}); the checks connect to ${at} (tls.connect.address), as curl --resolve would`,
          todo: '',
        });
      } else {
        const elsewhere = r.addresses.filter((a) => !pin.addresses.includes(a));
        rows.push({
          check,
          host: 'runner',
          ok: elsewhere.length === 0,
          seen: `${name} -> ${list(r.addresses)}; the checks connect to ${at} (tls.connect.address)${elsewhere.length ? '' : ', as pinned'}`,
          todo: elsewhere.length
            ? `${name} resolves elsewhere than tls.connect.address: the checks would read the cert served at ${connect}, not where ${name} leads; fix DNS, or set tls.connect.address to where ${name} resolves`
            : '',
        });
      }
    }
  }
  return rows;
}

export async function runDoctor(profile: Profile, planned: PlannedScenario[], recorder: Recorder, opts: { resolve?: Resolver } = {}): Promise<DoctorRow[]> {
  const rows: DoctorRow[] = [];
  const row = (r: DoctorRow) => rows.push(r);

  // Credentials and references: read, never shown.
  const needsThrowaway = has(planned, '@C4', '@c6-throwaway-size');
  const unreadable = [
    ...HostPool.credentialProblems(profile, recorder.redactor),
    ...referenceProblems(profile, { throwaway: needsThrowaway, e2e: has(planned, '@e2e') }),
  ];
  row({
    check: 'credentials and references',
    host: 'runner',
    ok: unreadable.length === 0,
    seen: unreadable.length ? unreadable.join('; ') : 'every one the selection needs can be read',
    todo: unreadable.length
      ? `set the variables and make the files readable that the profile names: ${[...new Set(unreadable.map((u) => u.split(':')[0]))].join(', ')}`
      : '',
  });
  if (unreadable.length) return rows;

  const pool = new HostPool(profile, recorder);
  try {
    const tools = toolsNeeded(profile, planned);
    const reachable = new Set<string>();
    for (const name of hostsNeeded(profile, planned, tools)) {
      try {
        const r = await pool.get(name).run(['true']);
        reachable.add(name);
        const key = recorder.lastConnection(name)?.hostKeyFingerprint;
        row({ check: 'reachable, host key verified', host: name, ok: r.ok, seen: key ? `host key ${key}` : 'local', todo: '' });
      } catch (e) {
        const seen = e instanceof HostBrokenError ? e.detail.seen : (e as Error).message;
        row({
          check: 'reachable, host key verified',
          host: name,
          ok: false,
          seen,
          todo: /host key/i.test(seen)
            ? 'check the host key: put the right one in known_hosts, or pin its SHA256 fingerprint (hostKey.fingerprint)'
            : 'check the address, port, user and key, and that sshd runs',
        });
      }
    }
    for (const t of tools) {
      if (!reachable.has(t.host)) continue;
      const r = await pool.get(t.host).run(t.argv, { allowMissing: true, timeoutMs: profile.timeouts.connect * 3 });
      const out = (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
      row({
        check: t.tool,
        host: t.host,
        ok: r.ok,
        seen: r.ok ? out || 'present' : `exit ${r.exitCode ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`,
        todo: r.ok ? '' : t.todo,
      });
    }
  } finally {
    await pool.closeAll();
  }

  const e = profile.e2e;
  if (e && needsOf(planned).has('tokens')) {
    const api = (name: string, url: string, scheme: 'token' | 'Bearer', ref: SecretRef, field: string) => {
      const token = readSecretRef(ref, field).trim();
      recorder.redactor.add(`${name}-token`, token);
      return new JsonClient(name, url, `${scheme} ${token}`, recorder, profile.timeouts.connect, 1);
    };
    const ask = async (check: string, host: string, f: () => Promise<string>, todo: string) => {
      try {
        row({ check, host, ok: true, seen: await f(), todo: '' });
      } catch (err) {
        row({ check, host, ok: false, seen: (err as Error).message, todo });
      }
    };
    const gitea = api('gitea', e.gitea.url, 'token', e.gitea.token, 'e2e.gitea.token');
    const [owner, repo] = e.gitea.repo.split('/');
    await ask(
      'Gitea token (the bot)',
      'gitea',
      async () => `user ${(await gitea.get<{ login: string }>('api/v1/user')).body.login}`,
      'renew e2e.gitea.token: the bot account must be able to log in',
    );
    await ask(
      `Gitea repo ${e.gitea.repo} and PR #${e.gitea.pr}`,
      'gitea',
      async () => {
        const pr = (await gitea.get<{ head: { sha: string } }>(`api/v1/repos/${owner}/${repo}/pulls/${e.gitea.pr}`)).body;
        return `PR head ${pr.head.sha.slice(0, 12)}`;
      },
      'the bot must see the enrolled recipe and its PR',
    );
    if (e.gitea.nonMemberToken) {
      const outsider = api('gitea-non-member', e.gitea.url, 'token', e.gitea.nonMemberToken, 'e2e.gitea.nonMemberToken');
      await ask(
        'Gitea token (the non-member)',
        'gitea',
        async () => `user ${(await outsider.get<{ login: string }>('api/v1/user')).body.login}`,
        'renew e2e.gitea.nonMemberToken',
      );
    }
    const drone = api('drone', e.drone.url, 'Bearer', e.drone.token, 'e2e.drone.token');
    const [downer, drepo] = e.drone.repo.split('/');
    await ask('Drone token', 'drone', async () => `user ${(await drone.get<{ login: string }>('api/user')).body.login}`, 'renew e2e.drone.token');
    await ask(
      `Drone repo ${e.drone.repo}`,
      'drone',
      async () => `${(await drone.get<unknown[]>(`api/repos/${downer}/${drepo}/builds`, { per_page: 1 })).body.length} build(s) readable`,
      'the token must read (and for !testme, build) the CI repo',
    );
  }

  // Public names: where they resolve, and whether that is where the profile pins them.
  rows.push(...(await nameRows(profile, planned, opts.resolve)));
  return rows;
}

export function doctorTable(rows: DoctorRow[]): string {
  const head = ['check', 'host', 'result', 'what to do'];
  const body = rows.map((r) => [r.check, r.host, `${r.ok ? 'ok' : 'FAIL'}: ${r.seen}`, r.ok ? '' : r.todo]);
  const width = head.map((h, i) => Math.min(60, Math.max(h.length, ...body.map((b) => b[i]!.length))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(width[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** What the acceptance run says of every selected scenario when the doctor found something missing. */
export function preflightReason(rows: DoctorRow[]): string | undefined {
  const bad = rows.filter((r) => !r.ok);
  return bad.length ? bad.map((r) => `${r.check} on ${r.host}: ${r.seen}${r.todo ? ` (${r.todo})` : ''}`).join('; ') : undefined;
}
