import { z } from 'zod';

// A profile says what to test and how to reach it. Credentials are never values here: only
// references to environment variables or files, resolved at load time and redacted everywhere.

const durationPattern = /^(\d+)(ms|s|m|h|d)$/;
const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "20m", "1h", "30d", or a number of seconds. */
export const Duration = z
  .union([z.number().positive(), z.string().regex(durationPattern, 'expected a duration such as "90s", "20m" or "1h"')])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const [, n, unit] = durationPattern.exec(v)!;
    return Number(n) * unitMs[unit as keyof typeof unitMs];
  });

export const SecretRef = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof SecretRef>;

const HostName = z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'expected a host name of lowercase letters, digits, dots and dashes');

const HostKey = z.union([
  z.strictObject({ knownHosts: z.string().min(1) }),
  z.strictObject({
    fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'expected an OpenSSH fingerprint such as SHA256:abc… (43 base64 characters)'),
  }),
]);

const SshAuth = z.union([
  z.strictObject({ privateKey: z.strictObject({ file: z.string().min(1) }), passphrase: SecretRef.optional() }),
  z.strictObject({ agent: z.strictObject({ env: z.string().default('SSH_AUTH_SOCK') }) }),
]);

export const SshHost = z.strictObject({
  transport: z.literal('ssh'),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1).default('root'),
  hostKey: HostKey,
  auth: SshAuth,
  /** Another ssh host of this profile to tunnel through. */
  jump: HostName.optional(),
});
export type SshHost = z.infer<typeof SshHost>;

export const LocalHost = z.strictObject({ transport: z.literal('local') });

export const HostSpec = z.discriminatedUnion('transport', [SshHost, LocalHost]);
export type HostSpec = z.infer<typeof HostSpec>;

const Timeouts = z.strictObject({
  connect: Duration.default(20_000),
  command: Duration.default(120_000),
  clone: Duration.default(300_000),
  build: Duration.default(2_700_000),
  /** A plaintext scan of the base repo's history or of /nix/store. */
  scan: Duration.default(1_800_000),
});

/** An expected age recipient: a public key, given inline, in a file, or in an environment variable. */
const Recipient = z.union([
  z.strictObject({ name: z.string().min(1), age: z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'expected an age public key (age1…)') }),
  z.strictObject({ name: z.string().min(1), file: z.string().min(1) }),
  z.strictObject({ name: z.string().min(1), env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) }),
]);
export type Recipient = z.infer<typeof Recipient>;

const AbsolutePath = z.string().regex(/^\/\S*$/, 'expected an absolute path');

/** A command as argv, e.g. ["sops"] or ["nix", "run", "nixpkgs#sops", "--"]. */
const Tool = z.array(z.string().min(1)).min(1);

export const Profile = z
  .strictObject({
    name: z.string().min(1),
    target: z.enum(['lab', 'live']),
    description: z.string().optional(),
    /** The public domain of the CI (apps at <app>.<domain>, the dashboard at <domain>). */
    domain: z.string().regex(/^[a-z0-9.-]+$/, 'expected a DNS name'),
    hosts: z.record(HostName, HostSpec),
    roles: z.strictObject({
      /** The live server whose /run/current-system is the reference. */
      live: HostName,
      /** Where clean clones are made and built. */
      build: HostName,
    }),
    repos: z.strictObject({
      base: z.strictObject({
        url: z.string().min(1),
        branch: z.string().min(1).default('main'),
        /** The live host's own checkout, whose working tree is scanned for plaintext too. */
        checkout: AbsolutePath.optional(),
      }),
      /** The private secrets repo; the base repo carries it as the submodule secrets/. */
      secrets: z.strictObject({ url: z.string().min(1) }),
    }),
    flake: z.strictObject({
      configuration: z.string().min(1).default('cc-ci'),
      /** On the build host; each run clones into <workDir>/<run-id>/ and removes it afterwards. */
      workDir: z.string().regex(/^\/[^\s]*$/, 'expected an absolute path without spaces'),
    }),
    secrets: z.strictObject({
      /** The sops file, relative to the secrets repo. */
      file: z.string().min(1).default('secrets.yaml'),
      names: z.array(z.string().regex(/^[A-Za-z0-9_]+$/)).min(1),
      /** Exactly these age recipients, no more, no fewer. */
      recipients: z.array(Recipient).min(1),
      /** Keys of other kinds the file may also be encrypted to; any other key of any kind fails. */
      otherRecipients: z
        .array(z.strictObject({ name: z.string().min(1), type: z.enum(['pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault']), id: z.string().min(1) }))
        .default([]),
      /** Keys sops may leave in plain text on purpose (unencrypted_suffix/regex); any other plain key fails. */
      allowPlain: z.array(z.string()).default([]),
      /** sops.age.keyFile: the bootstrap key, the one secret not in git. */
      keyFile: AbsolutePath.default('/var/lib/sops-nix/key.txt'),
      mountPoint: AbsolutePath.default('/run/secrets.d'),
      symlink: AbsolutePath.default('/run/secrets'),
      /** Where plaintext may exist: a host holding a key (default: the live host). Never the runner unless allowed. */
      decryptOn: HostName.optional(),
      allowRunnerDecryption: z.boolean().default(false),
      /** Private key material outside the secrets and the key file: where to look, and what is expected there. */
      keyScan: z
        .strictObject({
          paths: z.array(AbsolutePath).min(1).default(['/root', '/etc', '/var/lib', '/home', '/srv', '/opt', '/run', '/tmp']),
          exclude: z.array(AbsolutePath).default([]),
          allow: z.array(z.strictObject({ path: AbsolutePath, why: z.string().min(1) })).default([]),
        })
        .default({ paths: ['/root', '/etc', '/var/lib', '/home', '/srv', '/opt', '/run', '/tmp'], exclude: [], allow: [] }),
      /** The store to scan for plaintext. */
      store: AbsolutePath.default('/nix/store'),
    }),
    tls: z.strictObject({
      /** The dashboard's name (SNI and Host); default: the domain. */
      dashboard: z.string().regex(/^[a-z0-9.-]+$/).optional(),
      /** Where the runner connects, the name resolved as curl --resolve would. */
      connect: z.strictObject({ address: z.string().min(1), port: z.number().int().min(1).max(65535).default(443) }),
      /** The CA bundle the served chain must verify against: the system store, or a PEM file. */
      caBundle: z.union([z.literal('system'), z.strictObject({ file: z.string().min(1) })]).default('system'),
      /** Fail when the cert expires sooner; warn under 30 days. */
      minDays: z.number().int().nonnegative().default(14),
      fullchain: AbsolutePath.default('/var/lib/ci-certs/live/fullchain.pem'),
      privkey: AbsolutePath.default('/var/lib/ci-certs/live/privkey.pem'),
    }),
    tools: z
      .strictObject({ sops: Tool.default(['sops']), openssl: Tool.default(['openssl']) })
      .default({ sops: ['sops'], openssl: ['openssl'] }),
    stacks: z.number().int().nonnegative(),
    incus: z
      .strictObject({
        /** Where the incus CLI runs: a host of this profile (local or ssh). */
        host: HostName,
        command: Tool.default(['incus']),
        project: z.string().min(1),
        image: z.string().min(1),
        vm: z.boolean().default(true),
        /** The live server's instance: read-only to the harness. */
        liveInstance: z.string().min(1),
      })
      .optional(),
    throwaway: z
      .strictObject({
        namePrefix: z.string().regex(/^[a-z][a-z0-9-]*$/).default('cc-ci-throwaway'),
        memory: z.string().regex(/^\d+(MiB|GiB)$/, 'expected a size such as 4GiB').default('4GiB'),
        cpu: z.number().int().positive().default(2),
        /** How long a throwaway may live before the janitor removes it. */
        ttl: Duration.default(21_600_000),
        /** The one secret: the recovery age key, pushed to secrets.keyFile with mode 0600. */
        recoveryKey: z.strictObject({ file: z.string().min(1) }),
        /** What the VM needs to clone the repos (a deploy key, known_hosts): the only other files. */
        cloneCredentials: z
          .array(z.strictObject({ name: z.string().min(1), source: z.strictObject({ file: z.string().min(1) }), path: AbsolutePath, mode: z.string().regex(/^0[0-7]{3}$/) }))
          .default([]),
        /** Files a fresh image already holds in its writable directories; anything else there was provisioned. */
        imageBaseline: z.array(AbsolutePath).default([]),
        /** Files the image makes later by itself (sshd's host keys at the first connection): not provisioning when they appear. */
        imageLater: z.array(AbsolutePath).default([]),
        /** Placeholders in docs/install.md and their values. */
        placeholders: z.record(z.string(), z.string()).default({}),
        /** How long the first boot may take to reach `running`. */
        settle: Duration.default(600_000),
        /** How long the stacks may take to converge, and how long they must then stay converged. */
        stacksSettle: Duration.default(300_000),
        stacksStable: Duration.default(30_000),
      })
      .optional(),
    e2e: z
      .strictObject({
        gitea: z.strictObject({
          url: z.url(),
          /** The bot's token: it posts !testme. */
          token: SecretRef,
          /** An account outside the org, to show its !testme starts nothing (optional). */
          nonMemberToken: SecretRef.optional(),
          /** The enrolled recipe's repo (owner/name) and the PR to test. */
          repo: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'expected OWNER/NAME'),
          pr: z.number().int().positive(),
          /** The org whose members may run !testme (default: the repo's owner). */
          org: z.string().min(1).optional(),
        }),
        /** The recipe's compose file, whose images the deployed app must run (at the PR head). */
        compose: z.string().min(1).default('compose.yml'),
        /** A file of the recipe the app serves at /, whose bytes the public answer must be (optional). */
        content: z.string().min(1).optional(),
        drone: z.strictObject({
          url: z.url(),
          /** Drone's own server URL (DRONE_SERVER_PROTO://DRONE_SERVER_HOST), the base of its build pages; default: url. */
          serverUrl: z.url().optional(),
          token: SecretRef,
          /** The CI repo whose custom builds run !testme. */
          repo: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'expected OWNER/NAME'),
        }),
        /** The public gateway: where <app>.<domain> resolves, as curl --resolve would. */
        gateway: z.strictObject({
          address: z.string().min(1),
          port: z.number().int().min(1).max(65535).default(443),
          /** The addresses the gateway's name must resolve to (optional pin). */
          expect: z.array(z.string().min(1)).optional(),
        }),
        context: z.string().min(1).default('cc-ci/testme'),
        deadlines: z
          .strictObject({
            pickup: Duration.default(120_000),
            pending: Duration.default(120_000),
            deployed: Duration.default(600_000),
            finished: Duration.default(1_800_000),
            undeployed: Duration.default(300_000),
            reported: Duration.default(300_000),
          })
          .default({ pickup: 120_000, pending: 120_000, deployed: 600_000, finished: 1_800_000, undeployed: 300_000, reported: 300_000 }),
        /** How long a comment that must start nothing is watched: at least the pickup deadline. */
        quietWindow: Duration.default(120_000),
      })
      .optional(),
    docs: z
      .strictObject({
        install: z.string().default('docs/install.md'),
        secrets: z.string().default('docs/secrets.md'),
        architecture: z.string().default('docs/architecture.md'),
        /** Where the D8 ("reproducible server") evidence is written, relative to the base repo. */
        d8: z.array(z.string()).min(1).default(['docs/D8.md']),
        decisions: z.string().default('DECISIONS.md'),
        /** Where attached harness reports live in the base repo: <dir>/<run-id>/evidence.json. */
        evidenceDir: z.string().default('evidence'),
        /** How old the run D8 points at may be (its start time). */
        d8MaxAge: Duration.default(30 * 86_400_000),
      })
      .default({
        install: 'docs/install.md',
        secrets: 'docs/secrets.md',
        architecture: 'docs/architecture.md',
        d8: ['docs/D8.md'],
        decisions: 'DECISIONS.md',
        evidenceDir: 'evidence',
        d8MaxAge: 30 * 86_400_000,
      }),
    /** Gate ids and the criteria each needs (C1 … C7, e2e): `--gate ID` runs exactly those and gives one verdict. */
    gates: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a gate id such as W2'), z.array(z.enum(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'e2e'])).min(1))
      .default({ W2: ['C1', 'C2', 'C3'], W4: ['C4'], W5: ['C4', 'C5'], W6: ['C6', 'C7'], E2E: ['e2e'] }),
    timeouts: Timeouts.default(Timeouts.parse({})),
  })
  .superRefine((p, ctx) => {
    // A quiet window shorter than the pickup deadline would call a slow bridge a silent one.
    if (p.e2e && p.e2e.quietWindow < p.e2e.deadlines.pickup) {
      ctx.addIssue({ code: 'custom', path: ['e2e', 'quietWindow'], message: `is ${p.e2e.quietWindow / 1000}s, shorter than e2e.deadlines.pickup (${p.e2e.deadlines.pickup / 1000}s): a comment must be watched at least as long as a real !testme may take to be picked up` });
    }
    const defined = new Set(Object.keys(p.hosts));
    const decryptOn = p.secrets.decryptOn ?? p.roles.live;
    if (!defined.has(decryptOn)) {
      ctx.addIssue({ code: 'custom', path: ['secrets', 'decryptOn'], message: `names host "${decryptOn}", which is not under hosts` });
    } else if (p.hosts[decryptOn]!.transport === 'local' && !p.secrets.allowRunnerDecryption) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets', 'decryptOn'],
        message: `"${decryptOn}" is this machine: plaintext would reach the runner; set secrets.allowRunnerDecryption: true to allow it`,
      });
    }
    if (p.incus && !defined.has(p.incus.host)) {
      ctx.addIssue({ code: 'custom', path: ['incus', 'host'], message: `names host "${p.incus.host}", which is not under hosts` });
    }
    if (p.throwaway && !p.incus) ctx.addIssue({ code: 'custom', path: ['throwaway'], message: 'needs incus: the throwaway is an Incus VM' });
    for (const role of ['live', 'build'] as const) {
      if (!defined.has(p.roles[role])) {
        ctx.addIssue({ code: 'custom', path: ['roles', role], message: `names host "${p.roles[role]}", which is not under hosts` });
      }
    }
    for (const [name, spec] of Object.entries(p.hosts)) {
      if (spec.transport !== 'ssh' || spec.jump === undefined) continue;
      const jump = p.hosts[spec.jump];
      if (!jump) ctx.addIssue({ code: 'custom', path: ['hosts', name, 'jump'], message: `names host "${spec.jump}", which is not under hosts` });
      else if (jump.transport !== 'ssh') ctx.addIssue({ code: 'custom', path: ['hosts', name, 'jump'], message: `"${spec.jump}" is not an ssh host` });
      else if (spec.jump === name || jump.jump !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['hosts', name, 'jump'], message: 'a jump host must be a direct ssh host (one hop)' });
      }
    }
  });
export type Profile = z.infer<typeof Profile>;
