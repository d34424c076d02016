import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { HostPool } from '../drivers/pool';
import { JsonClient } from '../drivers/http';
import { HostBrokenError } from '../errors';
import type { Recorder } from '../evidence/recorder';
import { readSecretRef, referenceProblems } from '../profile/load';
import type { Profile, SecretRef } from '../profile/schema';
import type { PlannedScenario } from './plan';

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

interface ToolNeed {
  host: string;
  tool: string;
  argv: string[];
  todo: string;
}

const has = (planned: PlannedScenario[], ...tags: string[]) => planned.some((p) => tags.some((t) => p.tags.includes(t)));

/** The tools the selected checks run, on the hosts they run them on. */
export function toolsNeeded(profile: Profile, planned: PlannedScenario[]): ToolNeed[] {
  const { live, build } = profile.roles;
  const decrypt = profile.secrets.decryptOn ?? live;
  const needs: ToolNeed[] = [];
  const need = (host: string, tool: string, argv: string[], todo: string) => {
    if (!needs.some((n) => n.host === host && n.tool === tool)) needs.push({ host, tool, argv, todo });
  };
  const nixFlakes = ['nix', '--extra-experimental-features', 'nix-command flakes', 'eval', '--expr', '1'];
  if (has(planned, '@C1', '@C3', '@C4', '@C5', '@C6', '@C7')) need(build, 'git', ['git', '--version'], `install git on ${build}`);
  if (has(planned, '@C1', '@C3')) {
    need(build, 'nix with flakes', nixFlakes, `install Nix on ${build} (flakes are enabled per command)`);
    need(live, 'nix-store and nix-hash', ['sh', '-c', 'nix-store --version && nix-hash --version'], `the live host needs Nix`);
  }
  if (has(planned, '@C1'))
    need(
      build,
      'nixos-rebuild',
      ['sh', '-c', 'command -v nixos-rebuild'],
      `nixos-rebuild must be on the PATH of ${build} (a NixOS host, or nixpkgs#nixos-rebuild)`,
    );
  if (has(planned, '@C2', '@C3')) {
    need(
      decrypt,
      'sops',
      [...profile.tools.sops, '--version'],
      `make sops runnable on ${decrypt}, or set tools.sops (e.g. [nix, shell, nixpkgs#sops, -c, sops]) to a command that works offline`,
    );
    need(decrypt, 'git', ['git', '--version'], `install git on ${decrypt}`);
    need(
      decrypt,
      'bash and coreutils',
      ['bash', '-c', 'base64 --version >/dev/null && od --version >/dev/null && awk --version >/dev/null 2>&1 || awk -W version >/dev/null'],
      `the plaintext scan needs bash, base64, od and awk on ${decrypt}`,
    );
  }
  if (has(planned, '@C2')) {
    need(live, 'openssl', [...profile.tools.openssl, 'version'], `make openssl runnable on ${live}, or set tools.openssl`);
    need(decrypt, 'openssl', [...profile.tools.openssl, 'version'], `make openssl runnable on ${decrypt}, or set tools.openssl`);
  }
  if (has(planned, '@e2e')) need(live, 'docker', ['docker', '--version'], `the E2E reads the app's stack with docker on ${live}`);
  if (profile.incus && has(planned, '@C4', '@C6')) {
    const { host, command, project } = profile.incus;
    need(host, 'incus', [...command, '--version'], `install the incus client on ${host}, or set incus.command`);
    need(
      host,
      `incus access to ${project}`,
      [...command, 'list', '--project', project, '--format', 'json', '-c', 'n'],
      `give ${host} a remote and a client certificate with access to project ${project}`,
    );
    if (has(planned, '@C4', '@c6-throwaway-size')) {
      need(
        host,
        `image ${profile.incus.image}`,
        [...command, 'image', 'info', profile.incus.image, '--project', project],
        `the throwaway image ${profile.incus.image} must exist (incus image list)`,
      );
    }
  }
  return needs;
}

/** The hosts the selected checks reach. */
function hostsNeeded(profile: Profile, planned: PlannedScenario[], tools: ToolNeed[]): string[] {
  const hosts = new Set(tools.map((t) => t.host));
  if (has(planned, '@C1', '@C2', '@C3', '@e2e')) hosts.add(profile.roles.live);
  return [...hosts];
}

async function resolveName(name: string): Promise<string[]> {
  if (isIP(name)) return [name];
  return (await lookup(name, { all: true })).map((a) => a.address);
}

export async function runDoctor(profile: Profile, planned: PlannedScenario[], recorder: Recorder): Promise<DoctorRow[]> {
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
    todo: 'set the variables and make the files readable that the profile names',
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
  if (e && has(planned, '@e2e')) {
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

  // Public names: where they resolve, and whether that is where the profile expects.
  const names = new Map<string, string>();
  if (has(planned, '@C2')) names.set(profile.tls.connect.address, 'tls.connect.address');
  if (e && has(planned, '@e2e')) names.set(e.gateway.address, 'e2e.gateway.address');
  for (const [name, field] of names) {
    try {
      const addresses = await resolveName(name);
      const pins = e?.gateway.expect;
      const elsewhere = pins?.length ? addresses.filter((a) => !pins.includes(a)) : [];
      row({
        check: `${field} resolves`,
        host: 'runner',
        ok: elsewhere.length === 0,
        seen: `${name} -> ${addresses.join(', ')}`,
        todo: elsewhere.length ? `${name} should resolve to ${pins!.join(', ')} (e2e.gateway.expect): fix DNS, or the pin` : '',
      });
    } catch (err) {
      row({
        check: `${field} resolves`,
        host: 'runner',
        ok: false,
        seen: `${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        todo: `make ${name} resolve from here`,
      });
    }
  }
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
