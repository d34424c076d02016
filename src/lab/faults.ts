import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { encryptSopsYaml, type EncryptOptions } from '../sops/format';
import type { Lab } from './lab';
import { issueWildcard } from './tls';
import { ageKeygen, COMMIT_ENV, git } from './world';

// Lab faults: each changes the lab the way cc-ci could really be wrong, so that named checks
// must go red. `red` lists the scenario tags that must fail; every other scenario must pass.

export interface Fault {
  name: string;
  summary: string;
  criteria: string[];
  red: string[];
  /** What a red message must say: the evidence of this fault, named. */
  says?: RegExp;
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

function plaintexts(lab: Lab): Record<string, string> {
  return JSON.parse(readFileSync(lab.world.keyFiles.plaintexts, 'utf8')) as Record<string, string>;
}

/**
 * A new secrets file in the secrets repo (re-encrypted, maybe with changed values, recipients or
 * sops rules) and the base repo's gitlink bumped to it: what a secret rotation pushes.
 */
async function pushSecrets(
  lab: Lab,
  message: string,
  change: { values?: Record<string, string>; recipients?: string[]; rules?: EncryptOptions; drop?: string[] } = {},
): Promise<void> {
  const values = { ...plaintexts(lab), ...change.values };
  for (const k of change.drop ?? []) delete values[k];
  const recipients = change.recipients ?? [lab.world.recipients.host, lab.world.recipients.recovery];
  const text = await encryptSopsYaml(values, recipients, change.rules);
  const secretsCommit = await commitToForge(lab, 'cc-ci-secrets', message, async (work) => {
    writeFileSync(join(work, lab.profile.secrets.file), text);
  });
  await commitToForge(lab, 'cc-ci', `secrets: ${message}`, async (work) => {
    await git(work, 'update-index', '--cacheinfo', `160000,${secretsCommit},secrets`);
  });
}

/** The live host pulls the base repo and its submodule and switches, as the docs say. */
async function pullAndSwitch(lab: Lab, restart: string[] = []): Promise<void> {
  await lab.sh('cc-ci', [
    'cd /root/cc-ci',
    'git pull -q --ff-only',
    'git submodule update -q --init',
    `nixos-rebuild switch --flake 'git+file:///root/cc-ci?submodules=1#${lab.profile.flake.configuration}'`,
    ...restart.map((u) => `systemctl restart ${u}`),
  ].join('\n'));
  if (restart.includes('traefik.service')) await lab.waitForPort('cc-ci', 443);
}

export const FAULTS: Fault[] = [
  {
    name: 'toplevel-drift',
    summary: 'the live host runs a system built from another commit (a local change on cc-ci, switched to)',
    criteria: ['C1'],
    red: ['@c1-toplevel-identical'],
    says: /the clean clone's toplevel is byte-identical[\s\S]*seen: +\/nix\/store\//,
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
    says: /seen: +no entry named secrets in the tree/,
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
    says: /seen: +url = \S+cc-ci-secrets-old\.git/,
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
    says: /seen: +secrets\.yaml in [0-9a-f]{12}/,
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
    says: /clone exited 128/,
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
  {
    name: 'cert-mismatch',
    summary: 'the cert is rotated in git and on disk, but Traefik was not restarted and still serves the old one',
    criteria: ['C2'],
    red: ['@c2-one-cert'],
    says: /served to the runner ([0-9A-F]{2}:){31}[0-9A-F]{2}/,
    async apply(lab) {
      const cert = await issueWildcard(join(lab.dir, 'keys', 'tls'), lab.profile.domain, { days: 90 });
      await pushSecrets(lab, 'rotate the wildcard cert', { values: { wildcard_cert: cert.fullchain, wildcard_key: cert.privkey } });
      await pullAndSwitch(lab);
    },
  },
  {
    name: 'cert-not-symlink',
    summary: 'fullchain.pem in /var/lib/ci-certs/live is a plain file dropped there, not a symlink into /run/secrets',
    criteria: ['C2'],
    red: ['@c2-cert-links'],
    says: /seen: +a regular file, not a symlink/,
    async apply(lab) {
      await lab.sh('cc-ci', 'f=/var/lib/ci-certs/live/fullchain.pem; cp --remove-destination "$(readlink -f "$f")" "$f"');
    },
  },
  {
    name: 'expired-cert',
    summary: 'the cert in git (and so on disk and on 443) has expired',
    criteria: ['C2'],
    red: ['@c2-chain', '@c2-validity'],
    says: /CERT_HAS_EXPIRED[\s\S]*days left/,
    async apply(lab) {
      const day = 86_400_000;
      const cert = await issueWildcard(join(lab.dir, 'keys', 'tls'), lab.profile.domain, { start: new Date(Date.now() - 120 * day), end: new Date(Date.now() - 30 * day) });
      await pushSecrets(lab, 'an expired wildcard cert', { values: { wildcard_cert: cert.fullchain, wildcard_key: cert.privkey } });
      await pullAndSwitch(lab, ['traefik.service']);
    },
  },
  {
    name: 'key-mismatch',
    summary: 'the private key in git belongs to another cert',
    criteria: ['C2'],
    red: ['@c2-key-matches'],
    says: /cert public key sha256 [0-9a-f]{64}, private key's [0-9a-f]{64}/,
    async apply(lab) {
      const other = await issueWildcard(join(lab.dir, 'keys', 'tls'), lab.profile.domain, { days: 90 });
      await pushSecrets(lab, 'a wrong wildcard key', { values: { wildcard_key: other.privkey } });
      await pullAndSwitch(lab);
    },
  },
  {
    name: 'cert-unencrypted',
    summary: 'the wildcard cert is stored in the secrets file without encryption (sops unencrypted_regex)',
    criteria: ['C2', 'C3'],
    red: ['@c2-cert-in-sops', '@c3-all-encrypted', '@c3-no-plaintext-in-repo', '@c3-no-plaintext-in-store'],
    says: /wildcard_cert is in plain text/,
    async apply(lab) {
      await pushSecrets(lab, 'leave the cert unencrypted', { rules: { unencryptedRegex: '^wildcard_cert$' } });
      await pullAndSwitch(lab);
    },
  },
  {
    name: 'wrong-recipient',
    summary: 'the secrets file is encrypted to a key the profile does not expect (instead of the recovery key)',
    criteria: ['C3'],
    red: ['@c3-recipients'],
    says: /missing recovery key age1\w+, unexpected age1\w+/,
    async apply(lab) {
      const stranger = await ageKeygen(join(lab.dir, 'keys', 'stranger-age.txt'));
      await pushSecrets(lab, 're-encrypt', { recipients: [lab.world.recipients.host, stranger] });
      await pullAndSwitch(lab);
    },
  },
  {
    name: 'plaintext-value',
    summary: 'one secret (bridge_webhook_hmac) is stored in the secrets file without encryption',
    criteria: ['C3'],
    red: ['@c3-all-encrypted', '@c3-no-plaintext-in-repo', '@c3-no-plaintext-in-store'],
    says: /in plain text: bridge_webhook_hmac/,
    async apply(lab) {
      await pushSecrets(lab, 'leave the webhook hmac readable', { rules: { unencryptedRegex: '^bridge_webhook_hmac$' } });
      await pullAndSwitch(lab);
    },
  },
  {
    name: 'mac-missing',
    summary: "the secrets file in git lost its sops MAC (hand-edited); the live host has not switched to it",
    criteria: ['C2', 'C3'],
    red: ['@c2-one-cert', '@c3-mac', '@c3-no-plaintext-in-repo', '@c3-no-plaintext-in-store'],
    says: /seen: +no sops\.mac/,
    async apply(lab) {
      const secretsCommit = await commitToForge(lab, 'cc-ci-secrets', 'hand edit', async (work) => {
        const f = join(work, lab.profile.secrets.file);
        writeFileSync(f, readFileSync(f, 'utf8').replace(/^ {4}mac: .*\n/m, ''));
      });
      await commitToForge(lab, 'cc-ci', 'secrets: hand edit', async (work) => {
        await git(work, 'update-index', '--cacheinfo', `160000,${secretsCommit},secrets`);
      });
    },
  },
  {
    name: 'leak-in-store',
    summary: "a secret's plaintext (drone_rpc_secret, in an env file) was added to the live host's /nix/store",
    criteria: ['C3'],
    red: ['@c3-no-plaintext-in-store'],
    says: /drone_rpc_secret in \/nix\/store\/\w{32}-drone\.env/,
    async apply(lab) {
      await lab.sh('cc-ci', 'd=$(mktemp -d); cat > "$d/drone.env"; nix-store --add "$d/drone.env" > /dev/null; rm -rf "$d"', {
        stdin: `DRONE_RPC_SECRET=${plaintexts(lab).drone_rpc_secret}\n`,
      });
    },
  },
  {
    name: 'leak-in-history',
    summary: "a secret's plaintext (bridge_gitea_token) was committed to the base repo once and removed in a later commit",
    criteria: ['C3'],
    red: ['@c3-no-plaintext-in-repo'],
    says: /bridge_gitea_token in [0-9a-f]{40}:bridge\.env/,
    async apply(lab) {
      const token = plaintexts(lab).bridge_gitea_token;
      await commitToForge(lab, 'cc-ci', 'bridge: configure the gitea token', async (work) => {
        writeFileSync(join(work, 'bridge.env'), `GITEA_TOKEN=${token}\n`);
        await git(work, 'add', 'bridge.env');
      });
      await commitToForge(lab, 'cc-ci', 'bridge: the token comes from sops', async (work) => {
        await git(work, 'rm', '-q', 'bridge.env');
      });
    },
  },
  {
    name: 'secrets-on-disk',
    summary: '/run/secrets points at a copy of the secrets on a disk-backed directory (/var/lib)',
    criteria: ['C2', 'C3'],
    red: ['@c2-cert-links', '@c3-secrets-in-memory', '@c3-no-stray-keys'],
    says: /\/run\/secrets -> \/var\/lib\/secrets-copy on (?!tmpfs|ramfs)\w+/,
    async apply(lab) {
      await lab.sh('cc-ci', 'mkdir -p /var/lib/secrets-copy && cp -a "$(readlink -f /run/secrets)"/. /var/lib/secrets-copy/ && ln -sfn /var/lib/secrets-copy /run/secrets');
    },
  },
  {
    name: 'stray-key',
    summary: 'a copy of an age private key lies in /root on the live host',
    criteria: ['C3'],
    red: ['@c3-no-stray-keys'],
    says: /also: \/root\/age-key\.backup/,
    async apply(lab) {
      await lab.sh('cc-ci', 'cp /var/lib/sops-nix/key.txt /root/age-key.backup');
    },
  },
  {
    name: 'key-file-readable',
    summary: 'the bootstrap key on the live host is readable by everyone (0644)',
    criteria: ['C3'],
    red: ['@c3-key-file'],
    says: /on cc-ci: 644 root regular file/,
    async apply(lab) {
      await lab.sh('cc-ci', 'chmod 0644 /var/lib/sops-nix/key.txt');
    },
  },
  {
    name: 'wrong-key',
    summary: 'the live host boots with a key that is not a recipient: sops-nix fails, the secrets and the cert are absent',
    criteria: ['C2', 'C3'],
    red: [
      '@c2-cert-links', '@c2-one-cert', '@c2-chain', '@c2-key-matches', '@c2-validity',
      '@c3-mac', '@c3-secrets-in-memory', '@c3-no-plaintext-in-repo', '@c3-no-plaintext-in-store',
    ],
    says: /\(dangling\)[\s\S]*TRAEFIK DEFAULT CERT/,
    async apply(lab) {
      await lab.sh('cc-ci', [
        'age-keygen -o /var/lib/sops-nix/key.txt.new 2>/dev/null',
        'mv /var/lib/sops-nix/key.txt.new /var/lib/sops-nix/key.txt',
        'chmod 0600 /var/lib/sops-nix/key.txt',
        // A reboot: units stop, /run is emptied, the current system activates again.
        'for u in $(cut -f1 /run/current-system/etc/units.tsv); do systemctl stop "$u"; done',
        'umount /run/secrets.d 2>/dev/null || true',
        'rm -rf /run/secrets /run/secrets.d /run/systemd/units',
        '/run/current-system/bin/switch-to-configuration switch || true',
      ].join('\n'));
    },
  },
];

export function faultNamed(name: string): Fault | undefined {
  return FAULTS.find((f) => f.name === name);
}
