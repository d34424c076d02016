import { claimThat } from '../claim';
import type { Host } from '../drivers/host';
import type { ScanReport, ScanTarget } from '../drivers/sops';
import { resolveRecipients } from '../profile/load';
import type { RunContext } from '../run/context';
import { recursiveClone } from '../tasks/repos';
import { decryptHostMirror, gitSecretsFile } from '../tasks/secrets';

// C3, all secrets in git with one exception: every value encrypted to the expected recipients,
// decrypted only into memory, no plaintext in the repo or the store, and the bootstrap key the
// only secret outside git.

export const MIN_SCANNABLE = 8;
const PRIVATE_KEY_PATTERN = 'AGE-SECRET-KEY-1|-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----';

export async function claimAllEncrypted(run: RunContext): Promise<void> {
  const file = await gitSecretsFile(run);
  const allowed = new Set(run.profile.secrets.allowPlain);
  const plain = file.parsed.values.filter((v) => !v.encrypted).map((v) => v.path.join('.'));
  const notAllowed = plain.filter((p) => !allowed.has(p));
  run.recorder.fact(
    'git.values',
    { total: file.parsed.values.length, encrypted: file.parsed.values.length - plain.length, plain, plainByDesign: file.parsed.plainByDesign, allowedPlain: [...allowed] },
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
  const verify = wellFormed ? await run.sops().verify(file.text) : undefined;
  run.recorder.fact('git.mac', { present: !!mac, lastmodified: file.parsed.metadata.lastmodified, version: file.parsed.metadata.version, verifiedOn: run.decryptHost.name, verifyExit: verify?.exitCode }, run.decryptHost.name);
  claimThat(wellFormed && verify?.ok === true, {
    claim: "the sops block carries a MAC, and it verifies on a host that holds a key",
    expected: 'sops.mac = ENC[AES256_GCM,…] and `sops -d` succeeds',
    seen: !mac ? 'no sops.mac' : !wellFormed ? `sops.mac is not an encrypted MAC: ${mac.slice(0, 40)}…` : `sops -d exited ${verify?.exitCode}: ${verify?.stderr.trim().split('\n').slice(-1)[0]}`,
    host: wellFormed ? run.decryptHost.name : run.profile.roles.build,
    evidence: [file.evidence, ...(verify ? [verify.evidence] : [])],
  });
}

export async function claimRecipients(run: RunContext): Promise<void> {
  const file = await gitSecretsFile(run);
  const expected = resolveRecipients(run.profile.secrets.recipients);
  const found = file.parsed.metadata.age.map((a) => a.recipient);
  const missing = expected.filter((e) => !found.includes(e.age));
  const unexpected = found.filter((f) => !expected.some((e) => e.age === f));
  run.recorder.fact('git.recipients', { found: found.map((f) => ({ age: f, name: expected.find((e) => e.age === f)?.name ?? 'UNEXPECTED' })), pgp: file.parsed.metadata.pgp?.length ?? 0 }, run.profile.roles.build);
  claimThat(missing.length === 0 && unexpected.length === 0 && found.length === expected.length, {
    claim: 'the secrets file is encrypted to exactly the expected age recipients',
    expected: expected.map((e) => `${e.name} ${e.age}`).join(', '),
    seen: [
      `${found.length} recipient(s)`,
      ...missing.map((m) => `missing ${m.name} ${m.age}`),
      ...unexpected.map((u) => `unexpected ${u}`),
    ].join(', '),
    host: run.profile.roles.build,
    evidence: [file.evidence],
  });
}

export async function claimSecretsInMemory(run: RunContext, host: Host = run.pool.role('live')): Promise<void> {
  const { symlink, names } = run.profile.secrets;
  const r = await host.run([
    'sh', '-c',
    's=$1; echo "real $(readlink -f "$s")"; echo "fs $(stat -f -L -c %T "$s/" 2>/dev/null || echo none)"; for f in "$s"/*; do [ -e "$f" ] && echo "file $(stat -L -c "%a %U %G %F" "$f") ${f##*/}"; done; true',
    'secrets-check', symlink,
  ]);
  const lines = r.stdout.trim().split('\n');
  const fs = lines.find((l) => l.startsWith('fs '))?.slice(3) ?? 'none';
  const real = lines.find((l) => l.startsWith('real '))?.slice(5) ?? '';
  const files = new Map(
    lines
      .filter((l) => l.startsWith('file '))
      .map((l) => {
        const m = /^file (\d+) (\S+) (\S+) (.+) (\S+)$/.exec(l)!;
        return [m[5]!, { mode: m[1]!, owner: m[2]!, group: m[3]!, type: m[4]! }] as const;
      }),
  );
  const problems = names.flatMap((n) => {
    const f = files.get(n);
    if (!f) return [`${n} absent`];
    const wrong = [f.mode !== '400' && `mode ${f.mode}`, f.owner !== 'root' && `owner ${f.owner}`, f.type !== 'regular file' && f.type].filter(Boolean);
    return wrong.length ? [`${n}: ${wrong.join(', ')}`] : [];
  });
  run.recorder.fact(`${host.name}.secrets`, { path: symlink, realPath: real, filesystem: fs, files: Object.fromEntries(files) }, host.name);
  const inMemory = fs === 'tmpfs' || fs === 'ramfs';
  claimThat(inMemory && problems.length === 0, {
    claim: `on ${host.name}, ${symlink} lives in memory and holds every secret, 0400 root`,
    expected: `${symlink} on tmpfs or ramfs, with ${names.join(', ')} each mode 0400 owned by root`,
    seen: `${symlink} -> ${real || '(nothing)'} on ${fs}${problems.length ? `; ${problems.join('; ')}` : ''}`,
    host: host.name,
    evidence: [r.evidence],
  });
}

export async function claimKeyFile(run: RunContext): Promise<void> {
  const clone = await recursiveClone(run);
  const build = run.pool.role('build');
  const { keyFile } = run.profile.secrets;
  const attr = `git+file://${clone.dir}?submodules=1#nixosConfigurations.${run.profile.flake.configuration}.config.sops.age.keyFile`;
  const evald = await build.run(['nix', '--extra-experimental-features', 'nix-command flakes', 'eval', '--raw', attr], { timeoutMs: run.profile.timeouts.build });
  const live = run.pool.role('live');
  const st = await live.run(['stat', '-c', '%a %U %F', keyFile]);
  run.recorder.fact('sops.age.keyFile', { declared: evald.ok ? evald.stdout : null, expected: keyFile, onLiveHost: st.ok ? st.stdout.trim() : null }, build.name);
  claimThat(evald.ok && evald.stdout === keyFile && st.ok && st.stdout.trim() === '600 root regular file', {
    claim: `sops.age.keyFile is the bootstrap key ${keyFile}, present on the live host, 0600 root`,
    expected: `sops.age.keyFile = ${keyFile} in git; on ${live.name}: 600 root regular file`,
    seen: `${evald.ok ? `sops.age.keyFile = ${evald.stdout}` : `nix eval failed: ${evald.stderr.trim().split('\n').slice(-1)[0]}`}; on ${live.name}: ${st.ok ? st.stdout.trim() : st.stderr.trim()}`,
    host: `${build.name} and ${live.name}`,
    evidence: [evald.evidence, st.evidence],
  });
}

export async function claimNoStrayKeys(run: RunContext): Promise<void> {
  const host = run.pool.role('live');
  const { keyScan, mountPoint, keyFile } = run.profile.secrets;
  const excluded = [...keyScan.exclude, mountPoint];
  const r = await host.run([
    'sh', '-c',
    'pattern=$1; shift; prune=""; while [ "$1" != "--" ]; do prune="$prune -path $1 -prune -o"; shift; done; shift; ' +
      'find "$@" $prune -type f -print0 2>/dev/null | xargs -0 -r grep -lIE -- "$pattern" 2>/dev/null; true',
    'key-scan', PRIVATE_KEY_PATTERN, ...excluded, '--', ...keyScan.paths,
  ]);
  const expected = new Set([keyFile, ...keyScan.allow.map((a) => a.path)]);
  const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
  const found = r.stdout.split('\n').filter(Boolean).filter((p) => !excluded.some((d) => under(p, d)));
  const stray = found.filter((p) => !expected.has(p));
  run.recorder.fact('live.privateKeyMaterial', { searched: keyScan.paths, excluded, found, allowed: keyScan.allow, stray }, host.name);
  claimThat(stray.length === 0, {
    claim: `no private key material on the live host besides ${run.profile.secrets.symlink} and the bootstrap key`,
    expected: `only ${[...expected].join(', ')} under ${keyScan.paths.join(' ')}`,
    seen: `also: ${stray.join(', ')}`,
    host: host.name,
    evidence: [r.evidence],
  });
}

export interface PlaintextScan {
  what: string;
  host: string;
  report: ScanReport;
  evidence: string;
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
    const { report, result } = await sops.scan(file.text, run.profile.secrets.names, targets, MIN_SCANNABLE);
    claimThat(result.ok && !report.undecryptable, {
      claim: 'the host that holds a key decrypts the secrets file from git (to search for the plaintext)',
      expected: `${sops.host.name} decrypts every secret with ${sops.keyFile}`,
      seen: report.undecryptable ? `${report.undecryptable.name}: ${report.undecryptable.reason}` : `scan exited ${result.exitCode}: ${result.stderr.trim().split('\n').slice(-1)[0]}`,
      host: sops.host.name,
      evidence: [result.evidence],
    });
    claimThat(report.missing.length === 0 && report.coverage.length === targets.length, {
      claim: `the plaintext scan covers ${targets.map((t) => t.dir).join(' and ')}`,
      expected: `every target present: ${targets.map((t) => `${t.kind} ${t.dir}`).join(', ')}`,
      seen: `missing: ${report.missing.map((m) => `${m.kind} ${m.dir}`).join(', ') || '-'}`,
      host: sops.host.name,
      evidence: [result.evidence],
    });
    return { what, host: sops.host.name, report, evidence: result.evidence };
  });
}

export function claimNoPlaintext(run: RunContext, scan: PlaintextScan): void {
  const { report } = scan;
  run.recorder.fact('scan', { of: scan.what, coverage: report.coverage, searched: report.searched, skipped: report.skipped, hits: report.hits }, scan.host);
  claimThat(report.hits.length === 0, {
    claim: `no plaintext secret value in ${scan.what}`,
    expected: `none of ${report.searched.map((s) => s.name).join(', ')} (skipped, shorter than ${MIN_SCANNABLE}: ${report.skipped.map((s) => s.name).join(', ') || 'none'})`,
    seen: report.hits.map((h) => `${h.name} in ${h.path}`).join(', '),
    host: scan.host,
    evidence: [scan.evidence],
  });
}

export type { ScanReport };
