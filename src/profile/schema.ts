import { isIP } from 'node:net';
import { z } from 'zod';

// A profile says what to test and how to reach it. Credentials are never values here: only
// references to environment variables or files, resolved at load time and redacted everywhere.

// Every field has an allowed set: what reaches a command (names, paths, URLs, branches) is
// limited to characters no shell, git or ssh reads as anything but data; free text (descriptions,
// the reasons and names shown in reports) may hold spaces and any printable character.

const durationPattern = /^(\d+)(ms|s|m|h|d)$/;
const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function showMs(ms: number): string {
  for (const [unit, n] of [
    ['d', DAY],
    ['h', HOUR],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms >= n && ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

/**
 * "90s", "20m", "1h", "30d", or a number of seconds: longer than zero and at most `max` ms. A
 * timer (a timeout, a deadline) is at most 24h by default: Node fires a longer one at once.
 */
export function duration(max = DAY) {
  return z.union([z.number(), z.string()], { error: 'expected a duration such as "90s", "20m" or "1h"' }).transform((v, ctx) => {
    let ms: number;
    if (typeof v === 'number') {
      ms = Math.round(v * 1000);
    } else {
      const m = durationPattern.exec(v);
      if (!m) {
        ctx.issues.push({
          code: 'custom',
          input: v,
          message: /^-/.test(v.trim()) ? 'a duration must be longer than zero' : 'expected a duration such as "90s", "20m" or "1h"',
        });
        return z.NEVER;
      }
      ms = Number(m[1]) * unitMs[m[2] as keyof typeof unitMs];
    }
    if (!Number.isFinite(ms)) ctx.issues.push({ code: 'custom', input: v, message: 'expected a finite duration' });
    else if (ms < 1) ctx.issues.push({ code: 'custom', input: v, message: `is ${v}: a duration must be longer than zero` });
    else if (ms > max) ctx.issues.push({ code: 'custom', input: v, message: `is ${showMs(ms)}: at most ${showMs(max)}` });
    else return ms;
    return z.NEVER;
  });
}
export const Duration = duration();

/** Printable text on one line (names shown in reports and claims); spaces and non-ASCII allowed. */
const Label = (max = 200) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `at most ${max} characters`)
    .regex(/^[^\n\t]*$/, 'must be one line')
    .regex(/^\S(.*\S)?$/, 'must not start or end with a space');

/** Free text (descriptions): any printable characters and newlines. */
const Text = (max = 4096) => z.string().max(max, `at most ${max} characters`);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const EnvName = z.string().regex(ENV_NAME, 'expected an environment variable name (letters, digits and _, not starting with a digit)');

/** One path component of the characters commands take as data: no spaces, quotes, $, `, ;, |, &, globs or non-ASCII. */
const SAFE_COMPONENT = /^[A-Za-z0-9._+@%=,:~-]+$/;

function pathProblem(p: string, absolute: boolean): string | undefined {
  if (p === '') return 'must not be empty';
  if (p.length > 1024) return 'at most 1024 characters';
  if (absolute && !p.startsWith('/')) return 'expected an absolute path (starting with /)';
  if (!absolute && p.startsWith('/')) return 'expected a path relative to the repo (not starting with /)';
  if (!absolute && p.startsWith('-')) return 'must not start with - (a command would read it as an option)';
  if (p === '/') return undefined;
  if (p.endsWith('/')) return 'must not end with /';
  for (const c of (absolute ? p.slice(1) : p).split('/')) {
    if (c === '') return 'must not hold an empty component (//)';
    if (c === '.' || c === '..') return `must not hold a ${c} component`;
  }
  return undefined;
}

/**
 * A path on a host, where commands use it: absolute, normalized (no ., .. or empty components,
 * no trailing /), of letters, digits and . _ + @ % = , : ~ - only.
 */
export const RemotePath = z.string().superRefine((p, ctx) => {
  const why =
    pathProblem(p, true) ??
    (p === '/' ||
    p
      .slice(1)
      .split('/')
      .every((c) => SAFE_COMPONENT.test(c))
      ? undefined
      : 'expected an absolute path of letters, digits and . _ + @ % = , : ~ - (no spaces, quotes, $, `, ;, | or non-ASCII)');
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

/** A path inside a repo (the secrets file, the docs): relative, normalized, of the same characters. */
const RepoPath = z.string().superRefine((p, ctx) => {
  const why =
    pathProblem(p, false) ??
    (p.split('/').every((c) => SAFE_COMPONENT.test(c))
      ? undefined
      : 'expected a relative path of letters, digits and . _ + @ % = , : ~ - (no spaces, quotes, $, `, ;, | or non-ASCII)');
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

/**
 * A file on this machine, read by the harness itself (keys, known_hosts, CA bundles): absolute
 * and normalized; spaces and non-ASCII letters allowed, quotes, $, `, ;, |, &, <, >, \, * and ? not.
 */
const LocalPath = z.string().superRefine((p, ctx) => {
  const why =
    pathProblem(p, true) ??
    (p === '/' ? 'names the root directory, not a file' : /["'`$;|&<>\\*?]/.test(p) ? 'must not hold quotes, $, `, ;, |, &, <, >, \\, * or ?' : undefined);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

export const SecretRef = z.union([z.strictObject({ env: EnvName }), z.strictObject({ file: LocalPath })], {
  error: 'expected { env: VARIABLE } or { file: /absolute/path }',
});
export type SecretRef = z.infer<typeof SecretRef>;

/** The name of a host of this profile (a key of hosts, and what roles, jump and the like name). */
const HostName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]*$/, 'expected a host name of lowercase letters, digits, dots and dashes')
  .max(63, 'at most 63 characters');

/** A DNS name: dot-separated labels of lowercase letters, digits and dashes, at most 253 characters. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DnsName = z.string().superRefine((s, ctx) => {
  if (s.length > 253 || !s.split('.').every((l) => DNS_LABEL.test(l)) || /^\d+$/.test(s.split('.').pop()!)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a DNS name: dot-separated labels of lowercase letters, digits and dashes (at most 63 each, 253 in all)',
    });
  }
});

/** Where to connect: an IPv4 or IPv6 address, or a DNS name (any case). */
const Address = z.string().superRefine((s, ctx) => {
  if (isIP(s)) return;
  const labels = s.toLowerCase().split('.');
  const dns = s.length <= 253 && labels.every((l) => DNS_LABEL.test(l));
  if (!dns || /^\d+$/.test(labels[labels.length - 1]!)) {
    ctx.addIssue({
      code: 'custom',
      message: `is not an address: expected an IPv4 or IPv6 address or a DNS name${/^[\d.]+$/.test(s) ? ` (${s} is no IPv4 address)` : ''}`,
    });
  }
});

const Port = z.number().int('expected a whole number').min(1, 'expected a port from 1 to 65535').max(65535, 'expected a port from 1 to 65535');

const HostKey = z.union(
  [
    z.strictObject({ knownHosts: LocalPath }),
    z.strictObject({
      fingerprint: z
        .string()
        .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, { message: 'expected an OpenSSH fingerprint such as SHA256:abc… (43 base64 characters)', abort: true })
        .refine((f) => {
          const b64 = f.slice(7);
          return Buffer.from(b64, 'base64').toString('base64').replace(/=+$/, '') === b64;
        }, 'is not a SHA-256 fingerprint: its 43 base64 characters do not encode 32 bytes'),
    }),
  ],
  { error: 'expected { knownHosts: FILE } or { fingerprint: "SHA256:…" }' },
);

const SshAuth = z.union(
  [
    z.strictObject({ privateKey: z.strictObject({ file: LocalPath }), passphrase: SecretRef.optional() }),
    z.strictObject({ agent: z.strictObject({ env: EnvName.default('SSH_AUTH_SOCK') }) }),
  ],
  { error: 'expected { privateKey: { file } } or { agent: { env } }' },
);

export const SshHost = z.strictObject({
  transport: z.literal('ssh'),
  address: Address,
  port: Port.default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a user name such as root (lowercase letters, digits, _ and -, at most 32)')
    .default('root'),
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
const Recipient = z.union(
  [
    z.strictObject({ name: Label(), age: z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'expected an age public key (age1…)') }),
    z.strictObject({ name: Label(), file: LocalPath }),
    z.strictObject({ name: Label(), env: EnvName }),
  ],
  { error: 'expected { name, age: age1… }, { name, file } or { name, env }' },
);
export type Recipient = z.infer<typeof Recipient>;

/** A command as argv, e.g. ["sops"] or ["nix", "run", "nixpkgs#sops", "--"]: a program name or path, then any arguments on one line. */
const Tool = z
  .array(
    z
      .string()
      .min(1, 'must not be empty')
      .max(4096, 'at most 4096 characters')
      .regex(/^[^\n]*$/, 'must be one line'),
  )
  .min(1, 'expected a command: [program, arguments…]')
  .max(64, 'at most 64 words')
  .superRefine((argv, ctx) => {
    if (argv[0] !== undefined && !/^[A-Za-z0-9_./+][A-Za-z0-9_./+-]*$/.test(argv[0])) {
      ctx.addIssue({ code: 'custom', path: [0], message: 'expected a program name or path (letters, digits, _ . / + -, not starting with -)' });
    }
  });

/** A git URL as git takes it: scheme://…, user@host:path or /path; never an option (-…) or a remote helper (ext::…). */
const GitUrl = z.string().superRefine((u, ctx) => {
  const why = (() => {
    if (u.length === 0) return 'must not be empty';
    if (u.length > 2048) return 'at most 2048 characters';
    if (u.startsWith('-')) return 'must not start with - (git would read it as an option)';
    if (/^[A-Za-z0-9+.-]*::/.test(u)) return 'is a git remote-helper address (transport::…), which can run commands';
    if (!/^[A-Za-z0-9._~:/@%+=,-]+$/.test(u)) return 'expected a URL of letters, digits and . _ ~ : / @ % + = , - (no spaces, quotes, $, `, ;, | or non-ASCII)';
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(u);
    if (scheme) {
      if (!['ssh', 'git', 'http', 'https', 'file'].includes(scheme[1]!)) return `scheme ${scheme[1]}: expected ssh, git, http, https or file`;
      const authority = u.slice(scheme[0].length).split('/')[0]!;
      if (/^[^@]*:[^@]*@/.test(authority)) return 'holds a password: credentials are never values in a profile';
      if (scheme[1] !== 'file' && !/^([^@]+@)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(authority)) return 'expected scheme://[user@]host[:port]/path';
      return undefined;
    }
    if (u.startsWith('/')) return pathProblem(u, true);
    if (/^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:[^/:]/.test(u) || /^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:\//.test(u)) return undefined;
    return 'expected a git URL: scheme://host/path, user@host:path or an absolute path';
  })();
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

/** A branch name as git check-ref-format allows it, of the characters commands take as data. */
const Branch = z.string().superRefine((b, ctx) => {
  const why = (() => {
    if (b.length === 0) return 'must not be empty';
    if (b.length > 255) return 'at most 255 characters';
    if (b.startsWith('-')) return 'must not start with - (git would read it as an option)';
    if (!/^[A-Za-z0-9._/-]+$/.test(b)) return 'expected a branch name of letters, digits and . _ / - (no spaces, quotes, $, `, ;, ~, ^, :, @ or non-ASCII)';
    if (
      b.includes('..') ||
      b.includes('//') ||
      b.startsWith('/') ||
      b.endsWith('/') ||
      b.endsWith('.') ||
      b.endsWith('.lock') ||
      b.split('/').some((c) => c.startsWith('.'))
    ) {
      return 'is not a branch name git allows (no .., //, leading or trailing /, trailing . or .lock, components starting with .)';
    }
    return undefined;
  })();
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

/** An http(s) URL without credentials in it. */
const HttpUrl = z.string().superRefine((s, ctx) => {
  let u: URL | undefined;
  try {
    u = /^https?:\/\/[^\s]+$/.test(s) && s.length <= 2048 ? new URL(s) : undefined;
  } catch {
    u = undefined;
  }
  if (!u) ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL (no spaces, at most 2048 characters)' });
  else if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'holds a user or password: credentials are never values in a profile' });
});

/** OWNER/NAME of a Gitea or Drone repo. */
const RepoSlug = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/, 'expected OWNER/NAME (letters, digits, _ . -)');

/** An Incus instance name: letters, digits and dashes, starting with a letter, not ending with a dash, at most 63. */
const INSTANCE_NAME = /^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** The run id a throwaway's name ends with: 20260101-120000-abcd. */
const RUN_ID_LENGTH = 20;

/** Bytes by Incus's units, for the at-most check. */
const MEMORY = /^([1-9]\d{0,6})(MiB|GiB)$/;

export const Profile = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected a profile name of letters, digits, . _ and - (at most 64)'),
    target: z.enum(['lab', 'live']),
    description: Text().optional(),
    /** The public domain of the CI (apps at <app>.<domain>, the dashboard at <domain>). */
    domain: DnsName,
    hosts: z.record(HostName, HostSpec),
    roles: z.strictObject({
      /** The live server whose /run/current-system is the reference. */
      live: HostName,
      /** Where clean clones are made and built. */
      build: HostName,
    }),
    repos: z.strictObject({
      base: z.strictObject({
        url: GitUrl,
        branch: Branch.default('main'),
        /** The live host's own checkout, whose working tree is scanned for plaintext too. */
        checkout: RemotePath.optional(),
      }),
      /** The private secrets repo; the base repo carries it as the submodule secrets/. */
      secrets: z.strictObject({ url: GitUrl }),
    }),
    flake: z.strictObject({
      configuration: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_-]{0,99}$/, 'expected a NixOS configuration name (letters, digits, _ and -, not starting with a digit or -)')
        .default('cc-ci'),
      /** On the build host; each run clones into <workDir>/<run-id>/ and removes it afterwards. */
      workDir: RemotePath.refine((p) => p !== '/', 'must not be /: the run makes and removes <workDir>/<run-id> there'),
    }),
    secrets: z.strictObject({
      /** The sops file, relative to the secrets repo. */
      file: RepoPath.default('secrets.yaml'),
      names: z.array(z.string().regex(/^[A-Za-z0-9_]{1,128}$/, 'expected a secret name of letters, digits and _ (at most 128)')).min(1),
      /** Exactly these age recipients, no more, no fewer. */
      recipients: z.array(Recipient).min(1),
      /** Keys of other kinds the file may also be encrypted to; any other key of any kind fails. */
      otherRecipients: z
        .array(
          z.strictObject({
            name: Label(),
            type: z.enum(['pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault']),
            id: z.string().regex(/^[\x21-\x7e]{1,2048}$/, 'expected a key id of printable ASCII without spaces'),
          }),
        )
        .default([]),
      /** Keys sops may leave in plain text on purpose (unencrypted_suffix/regex); any other plain key fails. */
      allowPlain: z.array(z.string().regex(/^[\x21-\x7e]{1,256}$/, 'expected a key path of printable ASCII without spaces')).default([]),
      /** sops.age.keyFile: the bootstrap key, the one secret not in git. */
      keyFile: RemotePath.default('/var/lib/sops-nix/key.txt'),
      mountPoint: RemotePath.default('/run/secrets.d'),
      symlink: RemotePath.default('/run/secrets'),
      /** Where plaintext may exist: a host holding a key (default: the live host). Never the runner unless allowed. */
      decryptOn: HostName.optional(),
      allowRunnerDecryption: z.boolean().default(false),
      /** Private key material outside the secrets and the key file: where to look, and what is expected there. */
      keyScan: z
        .strictObject({
          paths: z.array(RemotePath).min(1).default(['/root', '/etc', '/var/lib', '/home', '/srv', '/opt', '/run', '/tmp']),
          exclude: z.array(RemotePath).default([]),
          allow: z.array(z.strictObject({ path: RemotePath, why: Label(500) })).default([]),
        })
        .default({ paths: ['/root', '/etc', '/var/lib', '/home', '/srv', '/opt', '/run', '/tmp'], exclude: [], allow: [] }),
      /** The store to scan for plaintext. */
      store: RemotePath.default('/nix/store'),
    }),
    tls: z.strictObject({
      /** The dashboard's name (SNI and Host); default: the domain. */
      dashboard: DnsName.optional(),
      /** Where the runner connects, the name resolved as curl --resolve would. */
      connect: z.strictObject({ address: Address, port: Port.default(443) }),
      /** The CA bundle the served chain must verify against: the system store, or a PEM file. */
      caBundle: z.union([z.literal('system'), z.strictObject({ file: LocalPath })], { error: 'expected system or { file: /absolute/path }' }).default('system'),
      /** Fail when the cert expires sooner; warn under 30 days. */
      minDays: z.number().int('expected a whole number of days').nonnegative().max(3650, 'at most 3650 days').default(14),
      fullchain: RemotePath.default('/var/lib/ci-certs/live/fullchain.pem'),
      privkey: RemotePath.default('/var/lib/ci-certs/live/privkey.pem'),
    }),
    tools: z.strictObject({ sops: Tool.default(['sops']), openssl: Tool.default(['openssl']) }).default({ sops: ['sops'], openssl: ['openssl'] }),
    stacks: z.number().int('expected a whole number').nonnegative().max(1000, 'at most 1000'),
    incus: z
      .strictObject({
        /** Where the incus CLI runs: a host of this profile (local or ssh). */
        host: HostName,
        command: Tool.default(['incus']),
        project: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'expected an Incus project name (letters, digits, _ and -, at most 63)'),
        image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/, 'expected an image such as images:nixos/24.05 (letters, digits, . _ : / -)'),
        vm: z.boolean().default(true),
        /** The live server's instance: read-only to the harness. */
        liveInstance: z.string().regex(INSTANCE_NAME, 'expected an Incus instance name (letters, digits and -, starting with a letter, at most 63)'),
      })
      .optional(),
    throwaway: z
      .strictObject({
        namePrefix: z
          .string()
          .regex(/^[a-z][a-z0-9-]*$/, 'expected lowercase letters, digits and -, starting with a letter')
          .max(62 - RUN_ID_LENGTH, `at most ${62 - RUN_ID_LENGTH} characters: <prefix>-<run-id> is an instance name of at most 63`)
          .default('cc-ci-throwaway'),
        memory: z
          .string()
          .regex(MEMORY, { message: 'expected a size such as 4GiB', abort: true })
          .refine((m) => Number(MEMORY.exec(m)?.[1] ?? 0) * (m.endsWith('GiB') ? 1024 : 1) <= 1024 * 1024, 'at most 1024GiB')
          .default('4GiB'),
        cpu: z.number().int('expected a whole number').positive().max(256, 'at most 256').default(2),
        /** How long a throwaway may live before the janitor removes it. */
        ttl: duration(30 * DAY).default(21_600_000),
        /** The one secret: the recovery age key, pushed to secrets.keyFile with mode 0600. */
        recoveryKey: z.strictObject({ file: LocalPath }),
        /** What the VM needs to clone the repos (a deploy key, known_hosts): the only other files. */
        cloneCredentials: z
          .array(
            z.strictObject({
              name: Label(),
              source: z.strictObject({ file: LocalPath }),
              path: RemotePath,
              mode: z.string().regex(/^0[0-7]{3}$/, 'expected a mode such as "0600"'),
            }),
          )
          .default([]),
        /** Files a fresh image already holds in its writable directories; anything else there was provisioned. */
        imageBaseline: z.array(RemotePath).default([]),
        /** Files the image makes later by itself (sshd's host keys at the first connection): not provisioning when they appear. */
        imageLater: z.array(RemotePath).default([]),
        /** Directories the image's own boot writes into (systemd's state: its random seed, timer stamps): what lies under them is the image's. */
        imageBaselineUnder: z.array(RemotePath).default([]),
        /** Placeholders in docs/install.md and their values: words the install steps' shell takes as data. */
        placeholders: z
          .record(
            z.string().regex(/^<[A-Za-z0-9_.-]{1,64}>$/, 'expected a placeholder such as <host-name>'),
            z
              .string()
              .regex(
                /^(?!-)[A-Za-z0-9._~:/@%+=,-]{1,2048}$/,
                'expected one word of letters, digits and . _ ~ : / @ % + = , - not starting with - (the install steps run it in a shell, where a command would read it as an option)',
              ),
          )
          .default({}),
        /** How long the first boot may take to reach `running`. */
        settle: Duration.default(600_000),
        /** How long it must then stay running with no failed unit (a unit that dies after its start is caught). */
        settleStable: Duration.default(30_000),
        /** How long the stacks may take to converge, and how long they must then stay converged. */
        stacksSettle: Duration.default(300_000),
        stacksStable: Duration.default(30_000),
      })
      .optional(),
    e2e: z
      .strictObject({
        gitea: z.strictObject({
          url: HttpUrl,
          /** The bot's token: it posts !testme. */
          token: SecretRef,
          /** An account outside the org, to show its !testme starts nothing (optional). */
          nonMemberToken: SecretRef.optional(),
          /** The enrolled recipe's repo (owner/name) and the PR to test. */
          repo: RepoSlug,
          pr: z
            .number()
            .int('expected a whole number')
            .positive()
            .max(2 ** 31 - 1),
          /** The org whose members may run !testme (default: the repo's owner). */
          org: z
            .string()
            .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/, 'expected an org name (letters, digits, _ . -)')
            .optional(),
        }),
        /** The recipe's compose file, whose images the deployed app must run (at the PR head). */
        compose: RepoPath.default('compose.yml'),
        /** A file of the recipe the app serves at /, whose bytes the public answer must be (optional). */
        content: RepoPath.optional(),
        drone: z.strictObject({
          url: HttpUrl,
          /** Drone's own server URL (DRONE_SERVER_PROTO://DRONE_SERVER_HOST), the base of its build pages; default: url. */
          serverUrl: HttpUrl.optional(),
          token: SecretRef,
          /** The CI repo whose custom builds run !testme. */
          repo: RepoSlug,
        }),
        /** The public gateway: where <app>.<domain> resolves, as curl --resolve would. */
        gateway: z.strictObject({
          address: Address,
          port: Port.default(443),
          /** The addresses the gateway's name must resolve to (optional pin). */
          expect: z
            .array(z.string().refine((a) => isIP(a) !== 0, 'expected an IPv4 or IPv6 address'))
            .min(1, 'expected at least one address (or leave expect out)')
            .optional(),
        }),
        context: z
          .string()
          .regex(/^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$/, 'expected a status context of printable ASCII such as cc-ci/testme')
          .default('cc-ci/testme'),
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
        install: RepoPath.default('docs/install.md'),
        secrets: RepoPath.default('docs/secrets.md'),
        architecture: RepoPath.default('docs/architecture.md'),
        /** Where the D8 ("reproducible server") evidence is written, relative to the base repo. */
        d8: z.array(RepoPath).min(1).default(['docs/D8.md']),
        decisions: RepoPath.default('DECISIONS.md'),
        /** Where attached harness reports live in the base repo: <dir>/<run-id>/evidence.json. */
        evidenceDir: RepoPath.default('evidence'),
        /** How old the run D8 points at may be (its start time). */
        d8MaxAge: duration(3650 * DAY).default(30 * 86_400_000),
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
      .record(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, 'expected a gate id such as W2'),
        z.array(z.enum(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'e2e'])).min(1),
      )
      .default({ W2: ['C1', 'C2', 'C3'], W4: ['C4'], W5: ['C4', 'C5'], W6: ['C6', 'C7'], E2E: ['e2e'] }),
    timeouts: Timeouts.default(Timeouts.parse({})),
  })
  .superRefine(
    (p, ctx) => {
      // A quiet window shorter than the pickup deadline would call a slow bridge a silent one.
      if (p.e2e && p.e2e.quietWindow < p.e2e.deadlines.pickup) {
        ctx.addIssue({
          code: 'custom',
          path: ['e2e', 'quietWindow'],
          message: `is ${p.e2e.quietWindow / 1000}s, shorter than e2e.deadlines.pickup (${p.e2e.deadlines.pickup / 1000}s): a comment must be watched at least as long as a real !testme may take to be picked up`,
        });
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
        const jump = defined.has(spec.jump) ? p.hosts[spec.jump] : undefined;
        if (!jump) ctx.addIssue({ code: 'custom', path: ['hosts', name, 'jump'], message: `names host "${spec.jump}", which is not under hosts` });
        else if (jump.transport !== 'ssh') ctx.addIssue({ code: 'custom', path: ['hosts', name, 'jump'], message: `"${spec.jump}" is not an ssh host` });
        else if (spec.jump === name || jump.jump !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['hosts', name, 'jump'], message: 'a jump host must be a direct ssh host (one hop)' });
        }
      }
    },
    // Relations between fields, on a profile whose every field is valid on its own.
    { when: (payload) => payload.issues.length === 0 },
  );
export type Profile = z.infer<typeof Profile>;
