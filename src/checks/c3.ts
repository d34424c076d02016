import { Files } from '../drivers/files';
import { claimThat } from '../claim';
import { HostBrokenError } from '../errors';
import { lastLines } from '../drivers/host';
import type { Host } from '../drivers/host';
import type { ScanReport, ScanTarget } from '../drivers/sops';
import { resolveRecipients } from '../profile/load';
import type { SopsMetadata } from '../sops/format';
import type { RunContext } from '../run/context';
import { recursiveClone } from '../tasks/repos';
import { decryptHostMirror, gitSecretsFile } from '../tasks/secrets';

// C3, all secrets in git with one exception: every value encrypted to the expected recipients,
// decrypted only into memory, no plaintext in the repo or the store, and the bootstrap key the
// only secret outside git.

export const MIN_SCANNABLE = 8;

export async function claimAllEncrypted(run: RunContext): Promise<void> {
  const file = await gitSecretsFile(run);
  const allowed = new Set(run.profile.secrets.allowPlain);
  const plain = file.parsed.values.filter((v) => !v.encrypted).map((v) => v.path.join('.'));
  const notAllowed = plain.filter((p) => !allowed.has(p));
  run.recorder.fact(
    'git.values',
    {
      total: file.parsed.values.length,
      encrypted: file.parsed.values.length - plain.length,
      plain,
      plainByDesign: file.parsed.plainByDesign,
      allowedPlain: [...allowed],
    },
    run.profile.roles.build,
  );
  claimThat(notAllowed.length === 0, {
    claim: 'every value in the secrets file is encrypted',
    expected: `every value ENC[AES256_GCM,…]${allowed.size ? ` (plain allowed by the profile: ${[...allowed].join(', ')})` : ''}`,
    seen: `in plain text: ${notAllowed.join(', ')}${file.parsed.plainByDesign.length ? ` (sops leaves ${file.parsed.plainByDesign.join(', ')} plain by its rules)` : ''}`,
    host: run.profile.roles.build,
    evidence: [file.evidence],
  });
}

export async function claimMac(run: RunContext): Promise<void> {
  const file = await gitSecretsFile(run);
  const mac = file.parsed.metadata.mac;
  const wellFormed = !!mac && /^ENC\[AES256_GCM,data:.+,iv:.+,tag:.+,type:str\]$/.test(mac);
  if (wellFormed) await run.sops().ready();
  const verify = wellFormed ? await run.sops().verify(file.text) : undefined;
  run.recorder.fact(
    'git.mac',
    {
      present: !!mac,
      lastmodified: file.parsed.metadata.lastmodified,
      version: file.parsed.metadata.version,
      verifiedOn: run.decryptHost.name,
      verifyExit: verify?.exitCode,
    },
    run.decryptHost.name,
  );
  claimThat(wellFormed && verify?.ok === true, {
    claim: 'the sops block carries a MAC, and it verifies on a host that holds a key',
    expected: 'sops.mac = ENC[AES256_GCM,…] and `sops -d` succeeds',
    seen: !mac
      ? 'no sops.mac'
      : !wellFormed
        ? `sops.mac is not an encrypted MAC: ${mac.slice(0, 40)}…`
        : `sops -d exited ${verify?.exitCode}: ${verify?.stderr.trim().split('\n').slice(-1)[0]}`,
    host: wellFormed ? run.decryptHost.name : run.profile.roles.build,
    evidence: [file.evidence, ...(verify ? [verify.evidence] : [])],
  });
}

/** The kinds of recipient sops knows (reference/sops.md §1), each with the field(s) naming its key. */
const RECIPIENT_IDS: Record<string, (k: Record<string, unknown>) => string> = {
  age: (k) => String(k['recipient'] ?? ''),
  pgp: (k) => String(k['fp'] ?? ''),
  kms: (k) => String(k['arn'] ?? ''),
  gcp_kms: (k) => String(k['resource_id'] ?? ''),
  azure_kv: (k) => `${k['vault_url'] ?? ''}/keys/${k['name'] ?? ''}/${k['version'] ?? ''}`,
  hc_vault: (k) => `${k['vault_address'] ?? ''}/v1/${k['engine_path'] ?? ''}/keys/${k['key_name'] ?? ''}`,
};

/** What else sops keeps under `sops:` (sops 3.9's Metadata, reference/sops.md §1): none of it a recipient. */
const NOT_RECIPIENTS = new Set([
  'key_groups',
  'shamir_threshold',
  'lastmodified',
  'mac',
  'version',
  'unencrypted_suffix',
  'encrypted_suffix',
  'unencrypted_regex',
  'encrypted_regex',
  'unencrypted_comment_regex',
  'encrypted_comment_regex',
  'mac_only_encrypted',
]);

/** Whether a key under `sops:` names a kind of recipient this harness knows. */
export const isKnownRecipientKind = (type: string): boolean => type in RECIPIENT_IDS;

/** A key of a kind this harness does not know, named by its fields but the data key and its date. */
function unknownKeyId(k: unknown): string {
  if (!k || typeof k !== 'object') return String(k).slice(0, 200);
  const fields = Object.entries(k as Record<string, unknown>)
    .filter(([f]) => f !== 'enc' && f !== 'created_at')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(fields)).slice(0, 200);
}

/**
 * Who can decrypt a sops file: every key of every kind, in the flat lists and in key_groups. A
 * non-empty list under `sops:` (or in a key group) that is none of sops's other fields is taken
 * for keys of a kind this harness does not know, each its own party: read as a recipient, never
 * passed over.
 */
export function partiesOf(meta: SopsMetadata): { type: string; id: string }[] {
  const isKey = (k: unknown): k is Record<string, unknown> => !!k && typeof k === 'object';
  const group = (g: Record<string, unknown>) => [
    ...Object.entries(RECIPIENT_IDS).flatMap(([type, id]) =>
      (Array.isArray(g[type]) ? (g[type] as unknown[]) : []).filter(isKey).map((k) => ({ type, id: id(k).trim() })),
    ),
    ...Object.entries(g)
      .filter(([type, keys]) => !isKnownRecipientKind(type) && !NOT_RECIPIENTS.has(type) && Array.isArray(keys))
      .flatMap(([type, keys]) => (keys as unknown[]).map((k) => ({ type, id: unknownKeyId(k) }))),
  ];
  const flat: Record<string, unknown> = { ...meta.other, age: meta.age.map((a) => ({ recipient: a.recipient })), pgp: meta.pgp.map((p) => ({ fp: p.fp })) };
  const groups = Array.isArray(meta.other['key_groups']) ? (meta.other['key_groups'] as unknown[]) : [];
  return [...group(flat), ...groups.flatMap((g) => (isKey(g) ? group(g) : []))];
}

export interface ExpectedRecipient {
  type: string;
  id: string;
  name: string;
}

/** The parties of a sops file against the expected ones: who is missing, and who is not expected (of any kind). */
export function recipientsAgainst(
  meta: SopsMetadata,
  expected: ExpectedRecipient[],
): { found: ExpectedRecipient[]; missing: ExpectedRecipient[]; unexpected: { type: string; id: string }[] } {
  const same = (a: { type: string; id: string }, b: { type: string; id: string }) => a.type === b.type && a.id.toUpperCase() === b.id.toUpperCase();
  const found = partiesOf(meta);
  return {
    found: found.map((f) => ({ ...f, name: expected.find((e) => same(f, e))?.name ?? 'UNEXPECTED' })),
    missing: expected.filter((e) => !found.some((f) => same(f, e))),
    unexpected: found.filter((f) => !expected.some((e) => same(f, e))),
  };
}

export async function claimRecipients(run: RunContext): Promise<void> {
  const file = await gitSecretsFile(run);
  const expected: ExpectedRecipient[] = [
    ...resolveRecipients(run.profile.secrets.recipients).map((e) => ({ type: 'age', id: e.age, name: e.name })),
    ...run.profile.secrets.otherRecipients.map((o) => ({ type: o.type, id: o.id, name: o.name })),
  ];
  const { found, missing, unexpected } = recipientsAgainst(file.parsed.metadata, expected);
  run.recorder.fact('git.recipients', { found, expected }, run.profile.roles.build);
  claimThat(missing.length === 0 && unexpected.length === 0, {
    claim:
      'the secrets file is encrypted to exactly the expected recipients, and to no one else (age, PGP, KMS, GCP KMS, Azure Key Vault, Vault, or a kind this harness does not know)',
    expected: expected.map((e) => `${e.name} ${e.type === 'age' ? '' : `${e.type} `}${e.id}`).join(', '),
    seen: [
      `${found.length} recipient(s)`,
      ...missing.map((m) => `missing ${m.name} ${m.type === 'age' ? '' : `${m.type} `}${m.id}`),
      ...unexpected.map(
        (u) =>
          `unexpected ${u.type === 'age' ? '' : `${u.type} `}${u.id}${isKnownRecipientKind(u.type) ? '' : ` (sops.${u.type}: a kind of recipient this harness does not know)`}`,
      ),
    ].join(', '),
    host: run.profile.roles.build,
    evidence: [file.evidence],
  });
}

export async function claimSecretsInMemory(run: RunContext, host: Host = run.pool.role('live')): Promise<void> {
  const { symlink, names } = run.profile.secrets;
  const files = new Files(host);
  const [resolved, fsType, generationDirs, listed] = await Promise.all([
    files.resolve(symlink),
    files.filesystemType(symlink),
    files.list(run.profile.secrets.mountPoint),
    files.statEntries(symlink),
  ]);
  const real = resolved.stdout.trim();
  const fs = fsType.type ?? 'none';
  const generations = generationDirs.names.filter((n) => /^\d+$/.test(n)).length;
  const entries = new Map(listed.entries.map((e) => [e.name, { mode: e.mode, owner: e.owner, group: e.group, type: e.type }] as const));
  const problems = names.flatMap((n) => {
    const f = entries.get(n);
    if (!f) return [`${n} absent`];
    const wrong = [f.mode !== '400' && `mode ${f.mode}`, f.owner !== 'root' && `owner ${f.owner}`, f.type !== 'regular file' && f.type].filter(Boolean);
    return wrong.length ? [`${n}: ${wrong.join(', ')}`] : [];
  });
  run.recorder.fact(`${host.name}.secrets`, { path: symlink, realPath: real, filesystem: fs, generations, files: Object.fromEntries(entries) }, host.name);
  const inMemory = fs === 'tmpfs' || fs === 'ramfs';
  claimThat(inMemory && problems.length === 0, {
    claim: `on ${host.name}, ${symlink} lives in memory and holds every secret, 0400 root`,
    expected: `${symlink} on tmpfs or ramfs, with ${names.join(', ')} each mode 0400 owned by root`,
    seen: `${symlink} -> ${real || '(nothing)'} on ${fs}${generations ? '' : ` (no generation in ${run.profile.secrets.mountPoint}: sops-nix's activation installed no secrets)`}${problems.length ? `; ${problems.join('; ')}` : ''}`,
    host: host.name,
    evidence: [resolved.evidence, fsType.result.evidence, generationDirs.result.evidence, listed.result.evidence],
  });
}

/** What nix says when it could not run, as opposed to an error in what it evaluated. */
export const NIX_CANNOT_RUN =
  /cannot connect to socket|cannot connect to daemon|experimental Nix feature '[^']+' is disabled|No space left on device|Permission denied.*\/nix\/(store|var)|error: creating directory '\/nix/;

export async function claimKeyFile(run: RunContext): Promise<void> {
  const clone = await recursiveClone(run);
  const build = run.pool.role('build');
  const { keyFile } = run.profile.secrets;
  const attr = `git+file://${clone.dir}?submodules=1#nixosConfigurations.${run.profile.flake.configuration}.config.sops.age.keyFile`;
  const evald = await build.run(['nix', '--extra-experimental-features', 'nix-command flakes', 'eval', '--raw', attr], {
    timeoutMs: run.profile.timeouts.build,
  });
  // Nix that could not evaluate at all (no daemon, flakes off, no room) has said nothing about the config.
  if (!evald.ok && NIX_CANNOT_RUN.test(evald.stderr)) {
    throw new HostBrokenError({
      claim: `could not evaluate sops.age.keyFile with nix on ${build.name}`,
      expected: 'nix eval to run',
      seen: `exit ${evald.exitCode}: ${evald.stderr.trim().split('\n').slice(-1)[0]}`,
      host: build.name,
      evidence: [evald.evidence],
    });
  }
  const live = run.pool.role('live');
  // The mode and owner are read as text: an answer that is not text is broken, not a wrong mode.
  const st = await new Files(live).stat(keyFile);
  run.recorder.fact(
    'sops.age.keyFile',
    { declared: evald.ok ? evald.stdout : null, expected: keyFile, onLiveHost: st.ok ? st.stdout.trim() : null },
    build.name,
  );
  claimThat(evald.ok && evald.stdout === keyFile && st.ok && st.stdout.trim() === '600 root regular file', {
    claim: `sops.age.keyFile is the bootstrap key ${keyFile}, present on the live host, 0600 root`,
    expected: `sops.age.keyFile = ${keyFile} in git; on ${live.name}: 600 root regular file`,
    seen: `${evald.ok ? `sops.age.keyFile = ${evald.stdout}` : `nix eval failed: ${evald.stderr.trim().split('\n').slice(-1)[0]}`}; on ${live.name}: ${st.ok ? st.stdout.trim() : st.stderr.trim()}`,
    host: `${build.name} and ${live.name}`,
    evidence: [evald.evidence, st.evidence],
  });
}

export { parseKeyScan } from '../drivers/files';

export async function claimNoStrayKeys(run: RunContext): Promise<void> {
  const host = run.pool.role('live');
  const { keyScan, mountPoint, keyFile } = run.profile.secrets;
  const excluded = [...keyScan.exclude, mountPoint];
  const { scan, result: r } = await new Files(host).privateKeyScan(keyScan.paths, excluded, run.profile.timeouts.scan);
  if (!r.ok || !scan.done || scan.error) {
    throw new HostBrokenError({
      claim: `the private-key scan of ${host.name} could not run`,
      expected: `find and grep to search ${keyScan.paths.join(' ')} to the end`,
      seen: scan.error ?? `exit ${r.exitCode ?? r.signal}: ${lastLines(r.stderr || r.stdout, 2)}`,
      host: host.name,
      evidence: [r.evidence],
    });
  }
  const expected = new Set([keyFile, ...keyScan.allow.map((a) => a.path)]);
  const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
  const found = [...new Set(scan.files.map((f) => f.path))].filter((p) => !excluded.some((d) => under(p, d)));
  const stray = found.filter((p) => !expected.has(p));
  run.recorder.fact('live.privateKeyMaterial', { searched: keyScan.paths, excluded, found: scan.files, allowed: keyScan.allow, stray }, host.name);
  claimThat(stray.length === 0, {
    claim: `no private key material on the live host besides ${run.profile.secrets.symlink} and the bootstrap key`,
    expected: `only ${[...expected].join(', ')} under ${keyScan.paths.join(' ')}`,
    seen: `also: ${stray
      .map(
        (p) =>
          `${p} (${scan.files
            .filter((f) => f.path === p)
            .map((f) => f.kind)
            .join('+')})`,
      )
      .join(', ')}`,
    host: host.name,
    evidence: [r.evidence],
  });
}

export interface PlaintextScan {
  what: string;
  host: string;
  report: ScanReport;
  /** The secrets searched: every key the file holds, and the profile's names, which it may lack. */
  secrets: { inFile: string[]; profileNames: string[]; notInProfile: string[]; absentFromFile: string[] };
  evidence: string;
}

/** What a plaintext scan cannot see, said in its evidence. */
export const SCAN_LIMITS = [
  `values shorter than ${MIN_SCANNABLE} characters are not searched (listed as skipped)`,
  'a value split across lines other than its own (wrapped raw text) is not found: grep matches within a line; base64 wrapped at any width of 63 columns or more is found',
  'other encodings (gzip inside zip/jar/whl archives, rot13, a value encrypted again) are not searched',
  "the secrets repo's own history is not searched (it is not the base repo)",
];

/** The sops --extract path of a leaf: ["key"][0]... */
export function extractPath(at: readonly (string | number)[]): string {
  return at.map((k) => (typeof k === 'number' ? `[${k}]` : `[${JSON.stringify(k)}]`)).join('');
}

/** Searches targets for every secret's plaintext on the host that holds a key, once per run. */
export function plaintextScan(run: RunContext, where: 'repo' | 'store'): Promise<PlaintextScan> {
  return run.once(`scan-${where}`, async () => {
    const file = await gitSecretsFile(run);
    const sops = run.sops();
    let targets: ScanTarget[];
    let what: string;
    if (where === 'repo') {
      const mirror = await decryptHostMirror(run);
      const checkout = run.profile.repos.base.checkout;
      targets = [{ kind: 'history', dir: mirror.dir }, ...(checkout ? [{ kind: 'tree' as const, dir: checkout }] : [])];
      what = 'the base repo';
    } else {
      targets = [{ kind: 'store', dir: run.profile.secrets.store }];
      what = run.profile.secrets.store;
    }
    // Every key the file holds is searched, whether or not the profile names it.
    const inFile = file.parsed.values.map((v) => ({ name: v.path.join('/'), extract: extractPath(v.at) }));
    const profileNames = run.profile.secrets.names;
    const secrets = {
      inFile: inFile.map((s) => s.name),
      profileNames,
      notInProfile: inFile.map((s) => s.name).filter((n) => !profileNames.includes(n)),
      absentFromFile: profileNames.filter((n) => !inFile.some((s) => s.name === n)),
    };
    await sops.ready();
    const { report, result, cleanup } = await sops.scan(file.text, inFile, targets, MIN_SCANNABLE, `${run.params.runId}.${where}`);
    const broken = (seen: string) =>
      new HostBrokenError({
        claim: `the plaintext scan of ${what} could not run on ${sops.host.name}`,
        expected: `${sops.host.name} decrypts every secret with ${sops.keyFile} and searches ${targets.map((t) => `${t.kind} ${t.dir}`).join(', ')} to the end`,
        seen,
        host: sops.host.name,
        evidence: [result.evidence, cleanup.evidence],
      });
    if (report.undecryptable) throw broken(`${report.undecryptable.name} could not be decrypted: ${report.undecryptable.reason}`);
    if (report.error) throw broken(`${report.error.kind} ${report.error.dir}: ${report.error.message}`);
    if (!result.ok || !report.done)
      throw broken(`the scan exited ${result.exitCode ?? result.signal} before it was done: ${lastLines(result.stderr || result.stdout, 2)}`);
    claimThat(report.missing.length === 0, {
      claim: `the plaintext scan covers ${targets.map((t) => t.dir).join(' and ')}`,
      expected: `every target present: ${targets.map((t) => `${t.kind} ${t.dir}`).join(', ')}`,
      seen: `missing: ${report.missing.map((m) => `${m.kind} ${m.dir}`).join(', ')}`,
      host: sops.host.name,
      evidence: [result.evidence],
    });
    return { what, host: sops.host.name, report, secrets, evidence: result.evidence };
  });
}

export function claimNoPlaintext(run: RunContext, scan: PlaintextScan): void {
  const { report, secrets } = scan;
  run.recorder.fact(
    'scan',
    {
      of: scan.what,
      memory: report.memory,
      secrets,
      coverage: report.coverage,
      searched: report.searched,
      skipped: report.skipped,
      hits: report.hits,
      undecodable: report.undecodable,
      limits: SCAN_LIMITS,
    },
    scan.host,
  );
  // A compressed file that does not decompress was searched as raw bytes only: said, not hidden.
  if (report.undecodable.length)
    run.recorder.fact(
      'warning',
      `${report.undecodable.length} compressed file(s) in ${scan.what} could not be opened and were searched as raw bytes only: ${report.undecodable.map((u) => u.path).join(', ')}`,
    );
  claimThat(report.hits.length === 0, {
    claim: `no plaintext secret value in ${scan.what}`,
    expected: `none of ${report.searched.map((s) => s.name).join(', ')}${secrets.notInProfile.length ? ` (in the file, not in the profile: ${secrets.notInProfile.join(', ')})` : ''} (skipped, shorter than ${MIN_SCANNABLE}: ${report.skipped.map((s) => s.name).join(', ') || 'none'})`,
    seen: report.hits.map((h) => `${h.name} in ${h.path}`).join(', '),
    host: scan.host,
    evidence: [scan.evidence],
  });
}

export type { ScanReport };
