import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { execa } from 'execa';
import { c4ScenarioTags, PROJECT_ROOT } from './harness';
import { encryptSopsYaml } from './sops/files';
import { LAB_ASSETS } from './paths';
import type { Lab } from './lab';
import { seedGitea } from './gitea';
import { registerHostInstance } from './incus';
import { issueWildcard, makeCa } from './tls';

// The lab's cc-ci world: a base repo (a flake) and a private secrets repo (sops, two age
// recipients), bare on the forge, with the secrets repo as the base repo's submodule at
// secrets/; and cc-ci installed from them, running the system they build.

export interface LabWorld {
  baseCommit: string;
  secretsCommit: string;
  recipients: { host: string; recovery: string };
  /** Lab-only files: the age identities and the plaintexts, for faults and the test suite. */
  keyFiles: { host: string; recovery: string; plaintexts: string; caCert: string };
  liveToplevel: string;
  e2e: E2eWorld;
  /** The run the D8 evidence points at, and when it started. */
  d8: { runId: string; startedAt: Date };
}

export const COMMIT_ENV = {
  GIT_AUTHOR_NAME: 'cc-ci builder',
  GIT_AUTHOR_EMAIL: 'builder@lab.test',
  GIT_COMMITTER_NAME: 'cc-ci builder',
  GIT_COMMITTER_EMAIL: 'builder@lab.test',
  GIT_AUTHOR_DATE: '2026-05-27T16:00:00Z',
  GIT_COMMITTER_DATE: '2026-05-27T16:00:00Z',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, env: COMMIT_ENV });
  return r.stdout.trim();
}

export async function buildWorld(lab: Lab): Promise<LabWorld> {
  const keys = join(lab.dir, 'keys');
  const seed = join(lab.dir, 'seed');
  mkdirSync(seed, { recursive: true });
  const { repos } = lab.profile;

  const hostKey = join(keys, 'cc-ci-host-age.txt');
  const recoveryKey = join(keys, 'recovery-age.txt');
  const recipients = { host: await ageKeygen(hostKey), recovery: await ageKeygen(recoveryKey) };
  const caCert = await makeCa(join(keys, 'tls'));
  const cert = await issueWildcard(join(keys, 'tls'), lab.profile.domain, { days: 90 });

  lab.mark('keys and certificates made');
  const plaintexts: Record<string, string> = {};
  for (const name of lab.profile.secrets.names) plaintexts[name] = `lab-${name}-${randomBytes(18).toString('base64url')}`;
  plaintexts.wildcard_cert = cert.fullchain;
  plaintexts.wildcard_key = cert.privkey;
  const plaintextsFile = join(keys, 'plaintexts.json');
  writeFileSync(plaintextsFile, JSON.stringify(plaintexts, null, 2), { mode: 0o600 });

  // The secrets repo.
  const secretsWork = join(seed, 'cc-ci-secrets');
  mkdirSync(secretsWork, { recursive: true });
  cpSync(join(LAB_ASSETS, 'world', 'cc-ci-secrets'), secretsWork, { recursive: true });
  writeFileSync(join(secretsWork, '.sops.yaml'), sopsConfig(recipients, lab.profile.secrets.file));
  writeFileSync(join(secretsWork, lab.profile.secrets.file), await encryptSopsYaml(plaintexts, [recipients.host, recipients.recovery]));
  await git(secretsWork, 'init', '-q');
  await git(secretsWork, 'add', '-A');
  await git(secretsWork, 'commit', '-q', '-m', 'secrets: infra secrets and the wildcard cert, sops-encrypted');
  const secretsCommit = await git(secretsWork, 'rev-parse', 'HEAD');
  await publish(lab, secretsWork, 'cc-ci-secrets');

  lab.mark('secrets repo published');
  // The base repo, with the secrets repo as a submodule (gitlink + .gitmodules).
  const baseWork = join(seed, 'cc-ci');
  mkdirSync(baseWork, { recursive: true });
  cpSync(join(LAB_ASSETS, 'world', 'cc-ci'), baseWork, { recursive: true });
  writeFileSync(
    join(baseWork, 'modules', 'site.nix'),
    [
      '# Where things are: the public domain (apps at <app>.<domain>, the dashboard at <domain>),',
      '# the public gateway, the forge (git over ssh, and Gitea).',
      '{',
      `  domain = "${lab.profile.domain}";`,
      `  gateway = "${lab.hosts.get('gateway')!.labAddress}";`,
      '  forge = "ssh://root@forge/srv/git";',
      '  gitea = "http://forge:3000";',
      '}',
      '',
    ].join('\n'),
  );
  const path = 'secrets';
  writeFileSync(join(baseWork, '.gitmodules'), `[submodule "${path}"]\n\tpath = ${path}\n\turl = ${repos.secrets.url}\n`);
  const d8Started = new Date(Date.now() - 2 * 86_400_000);
  const d8Run = d8RunId(d8Started);
  writeD8(baseWork, d8Evidence(d8Run, d8Started));
  await git(baseWork, 'init', '-q');
  await git(baseWork, 'add', '-A');
  await git(baseWork, 'update-index', '--add', '--cacheinfo', `160000,${secretsCommit},${path}`);
  await git(baseWork, 'commit', '-q', '-m', 'cc-ci: secrets move to the cc-ci-secrets submodule');
  const baseCommit = await git(baseWork, 'rev-parse', 'HEAD');
  await publish(lab, baseWork, 'cc-ci');

  // What a throwaway VM is given to clone with: a deploy key the forge accepts, and its host key.
  const deployKey = join(keys, 'throwaway-deploy-key');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'throwaway-deploy-key', '-f', deployKey]);
  writeFileSync(join(lab.dir, 'hosts', 'forge', 'root', '.ssh', 'authorized_keys'), readFileSync(`${deployKey}.pub`, 'utf8'), { flag: 'a' });
  const forgeKey = readFileSync(join(lab.dir, 'hosts', 'forge', 'etc-ssh', 'ssh_host_ed25519_key.pub'), 'utf8')
    .split(' ')
    .slice(0, 2)
    .join(' ');
  writeFileSync(join(keys, 'forge-known-hosts'), `forge,${lab.hosts.get('forge')!.labAddress} ${forgeKey}\n`);

  lab.mark('base repo published');
  const e2e = await buildE2eWorld(lab, plaintexts);
  lab.mark('E2E world made');

  // cc-ci, installed as docs/install.md says: the key, one recursive clone, one switch.
  const keyDir = join(lab.dir, 'hosts', 'cc-ci', 'var-lib', 'sops-nix');
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(keyDir, 'key.txt'), readFileSync(hostKey), { mode: 0o600 });
  await lab.exec('cc-ci', ['git', 'clone', '--quiet', '--recursive', '--', repos.base.url, '/root/cc-ci']);
  lab.mark('cc-ci cloned');
  await lab.exec('cc-ci', ['nixos-rebuild', 'switch', '--flake', `git+file:///root/cc-ci?submodules=1#${lab.profile.flake.configuration}`]);
  lab.mark('cc-ci switched');
  await lab.waitForPort('cc-ci', 443, { unit: 'traefik.service' });
  await lab.waitForPort('cc-ci', 8080, { unit: 'drone-server.service' });
  // cc-ci is the Incus VM cc-nix-test in project terraform-ci, created long before the harness.
  await registerHostInstance(lab.dir, {
    project: lab.profile.incus?.project ?? 'terraform-ci',
    name: lab.profile.incus?.liveInstance ?? 'cc-nix-test',
    host: 'cc-ci',
    type: 'virtual-machine',
    createdAt: '2026-03-02T10:14:00Z',
    // 4GiB, spelled as the operator set it: sizes compare as bytes.
    config: { 'limits.memory': '4096MiB', 'limits.cpu': '4', 'security.secureboot': 'false', 'user.owner': 'recipe-maintainers' },
  });
  lab.mark('cc-ci serving');
  const liveToplevel = (await lab.exec('cc-ci', ['readlink', '-f', '/run/current-system'])).stdout.trim();

  return {
    baseCommit,
    secretsCommit,
    recipients,
    keyFiles: { host: hostKey, recovery: recoveryKey, plaintexts: plaintextsFile, caCert },
    liveToplevel,
    e2e,
    d8: { runId: d8Run, startedAt: d8Started },
  };
}

export interface E2eWorld {
  /** The recipe repo on the forge, and the PR's head commit. */
  recipe: string;
  prHead: string;
  giteaState: string;
}

/**
 * The E2E's world: an enrolled recipe (custom-html) on the forge with an open PR, Gitea on the
 * forge knowing the bot (its token is the sops secret bridge_gitea_token), a member and a
 * non-member, Drone's acceptance user on cc-ci, and the public gateway passing TLS through.
 */
async function buildE2eWorld(lab: Lab, plaintexts: Record<string, string>): Promise<E2eWorld> {
  const keys = join(lab.dir, 'keys');
  const work = join(lab.dir, 'seed', 'custom-html');
  mkdirSync(join(work, 'tests'), { recursive: true });
  const compose = (image: string) =>
    `version: "3.8"\nservices:\n  app:\n    image: ${image}\n    deploy:\n      replicas: 1\n    volumes:\n      - content:/usr/share/nginx/html\nsecrets:\n  app_secret:\n    file: ./app_secret\nvolumes:\n  content:\n`;
  writeFileSync(join(work, 'compose.yml'), compose('nginx:1.25'));
  writeFileSync(join(work, 'index.html'), '<!doctype html>\n<h1>custom-html</h1>\n<p>A Co-op Cloud recipe.</p>\n');
  writeFileSync(join(work, 'tests', 'expect.txt'), 'custom-html\n');
  await git(work, 'init', '-q');
  await git(work, 'add', '-A');
  await git(work, 'commit', '-q', '-m', 'custom-html recipe');
  const main = await git(work, 'rev-parse', 'HEAD');
  await git(work, 'checkout', '-q', '-b', 'bump-nginx');
  // The PR changes what the E2E can see while the app is deployed: its image and its page.
  writeFileSync(join(work, 'compose.yml'), compose('nginx:1.27'));
  writeFileSync(join(work, 'index.html'), '<!doctype html>\n<h1>custom-html</h1>\n<p>A Co-op Cloud recipe, served by nginx 1.27.</p>\n');
  await git(work, 'commit', '-q', '-a', '-m', 'bump nginx to 1.27');
  const prHead = await git(work, 'rev-parse', 'HEAD');
  const bare = join(lab.forgeDir, 'custom-html.git');
  await execa('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  await git(work, 'push', '-q', bare, 'main', 'bump-nginx');

  const token = (name: string) => {
    const t = randomBytes(20).toString('hex');
    writeFileSync(join(keys, name), `${t}\n`, { mode: 0o600 });
    return t;
  };
  const giteaState = join(lab.dir, 'hosts', 'forge', 'var-lib', 'gitea-lab', 'state.json');
  mkdirSync(dirname(giteaState), { recursive: true });
  seedGitea(giteaState, {
    users: [
      { login: 'cc-ci-bot', full_name: 'cc-ci bot', tokens: [plaintexts.bridge_gitea_token!, token('gitea-bot-token')] },
      { login: 'alice', full_name: 'Alice Maintainer', token: randomBytes(20).toString('hex') },
      { login: 'mallory', full_name: 'Mallory Outsider', token: token('gitea-mallory-token') },
    ],
    orgs: [{ name: 'recipe-maintainers', members: ['cc-ci-bot', 'alice'], owners: ['cc-ci-bot'] }],
    repos: [
      {
        owner: 'recipe-maintainers',
        name: 'custom-html',
        gitDir: '/srv/git/custom-html.git',
        branches: { main, 'bump-nginx': prHead },
        commits: [main, prHead],
        pulls: [{ number: 1, title: 'Bump nginx to 1.27', user: 'alice', head: { ref: 'bump-nginx', sha: prHead }, base: { ref: 'main', sha: main } }],
      },
      { owner: 'recipe-maintainers', name: 'cc-ci' },
    ],
  });
  await lab.sh(
    'forge',
    'setsid gitea web --port 3000 --state /var/lib/gitea-lab/state.json --root-url https://git.lab.test/ > /var/log/gitea.log 2>&1 < /dev/null &',
  );

  // Drone's acceptance user, as an operator would create it for the Adversary.
  const droneDir = join(lab.dir, 'hosts', 'cc-ci', 'var-lib', 'drone-lab');
  mkdirSync(droneDir, { recursive: true });
  writeFileSync(join(droneDir, 'acceptance-token'), `${token('drone-acceptance-token')}\n`, { mode: 0o600 });

  // The public gateway: TCP pass-through to cc-ci, TLS untouched (real socat).
  await lab.sh(
    'gateway',
    ['for p in 443 80; do', '  setsid socat TCP-LISTEN:$p,fork,reuseaddr TCP:cc-ci:$p > /var/log/gateway-$p.log 2>&1 < /dev/null &', 'done'].join('\n'),
  );
  await lab.waitForPort('forge', 3000, { log: '/var/log/gitea.log' });
  await lab.waitForPort('gateway', 443, { log: '/var/log/gateway-443.log' });
  return { recipe: bare, prHead, giteaState };
}

/** Pushes a work tree's main branch to a new bare repo on the forge. */
export async function publish(lab: Lab, work: string, name: string): Promise<string> {
  const bare = join(lab.forgeDir, `${name}.git`);
  await execa('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  await git(work, 'push', '-q', bare, 'HEAD:refs/heads/main');
  return bare;
}

/** A new age identity in `file`, its public key beside it in `<name>.pub`. */
export async function ageKeygen(file: string): Promise<string> {
  await execa('age-keygen', ['-o', file]);
  chmodSync(file, 0o600);
  const recipient = (await execa('age-keygen', ['-y', file])).stdout.trim();
  writeFileSync(file.replace(/\.txt$/, '.pub'), recipient + '\n');
  return recipient;
}

function sopsConfig(r: { host: string; recovery: string }, file: string): string {
  return `keys:
  - &host_cc_ci ${r.host}
  - &recovery ${r.recovery}
creation_rules:
  - path_regex: ${file.replace(/\./g, '\\.')}$
    key_groups:
      - age:
          - *host_cc_ci
          - *recovery
`;
}

/** The run the lab's D8 evidence points at: an earlier live rebuild, two days ago, attached to the base repo. */
export function d8RunId(started: Date): string {
  return `${started.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-c4d8`;
}

export function d8Text(runId: string): string {
  return `# D8: a reproducible server

**Static.** A clean \`git clone --recursive\` of the base repo, built with
\`nixos-rebuild build --flake 'git+file://<clone>?submodules=1#cc-ci'\`, gives a toplevel
byte-identical to the running system's \`readlink -f /run/current-system\`.

**Live rebuild.** A blank Incus VM given only the recovery key cloned the repos recursively and
ran one \`nixos-rebuild switch\`: it came up running with no failed unit, on the same toplevel,
all stacks up, every secret and the certificate decrypted with the recovery key, and the git
certificate served on 443. Acceptance run ${runId}: evidence/${runId}/evidence.json.

**Remaining limit.** The wildcard certificate is renewed by hand every 90 days and committed to
the secrets repo.
`;
}

/** What an attached evidence.json of a C4 run holds (lab data standing for the Builder's report). */
export interface D8Evidence {
  runId: string;
  target: 'live' | 'lab';
  startedAt: string;
  faults: { name: string; kind: 'fault' | 'script' }[];
  harness?: { commit: string; dirty: boolean };
  scenarios: { name: string; tags: string[]; criteria: string[]; status: string }[];
}

/** A passing live C4 run, started at `started`: what D8 should point at. */
export function d8Evidence(runId: string, started: Date): D8Evidence {
  return {
    runId,
    target: 'live',
    startedAt: started.toISOString(),
    faults: [],
    harness: { commit: harnessHead(), dirty: false },
    scenarios: c4ScenarioTags().map((tag) => ({ name: tag, tags: ['@C4', '@mutating', tag], criteria: ['C4'], status: 'passed' })),
  };
}

/** The harness's own commit: the run D8 points at was made by this harness, as a real one is. */
function harnessHead(): string {
  return execFileSync('git', ['-C', PROJECT_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
}

/**
 * The D8 doc and the attached evidence of the run it points at, with the run's manifest as
 * `attach` copies it; `editAfter` changes evidence.json after its hash was taken.
 */
export function writeD8(work: string, evidence: D8Evidence, opts: { editAfter?: (text: string) => string } = {}): void {
  mkdirSync(join(work, 'docs'), { recursive: true });
  writeFileSync(join(work, 'docs', 'D8.md'), d8Text(evidence.runId));
  const dir = join(work, 'evidence', evidence.runId);
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify({ ...evidence, note: 'lab: an attached report of an earlier run, as the Builder attaches them' }, null, 2) + '\n';
  const sha = createHash('sha256').update(text).digest('hex');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ files: { 'evidence.json': sha } }, null, 2) + '\n');
  writeFileSync(join(dir, 'evidence.json'), opts.editAfter ? opts.editAfter(text) : text);
}
