import { readFileSync } from 'node:fs';
import { claimThat } from '../claim';
import { shellQuote, type Host } from '../drivers/host';
import { normalizeFingerprint, readServedChain, TlsConnectError, type ServedChain } from '../drivers/tls';
import type { RunContext } from '../run/context';
import { gitSecretsFile } from '../tasks/secrets';

// C2, cert in git: the wildcard cert and key are sops secrets; decrypted at activation to
// /var/lib/ci-certs/live (symlinks into /run/secrets); git, disk and 443 hold one certificate.

const DAY_MS = 86_400_000;

export async function claimEncryptedInGit(run: RunContext, names: string[]): Promise<void> {
  const file = await gitSecretsFile(run);
  const found = names.map((n) => ({ name: n, leaf: file.parsed.values.find((v) => v.path.length === 1 && v.path[0] === n) }));
  run.recorder.fact('git.secretsFile', file.path, run.profile.roles.build);
  run.recorder.fact(
    'git.certSecrets',
    found.map((f) => ({ name: f.name, present: !!f.leaf, encrypted: f.leaf?.encrypted ?? false })),
  );
  const bad = found.filter((f) => !f.leaf?.encrypted);
  claimThat(bad.length === 0, {
    claim: `the secrets file in git holds ${names.join(' and ')}, encrypted`,
    expected: names.map((n) => `${n}: ENC[AES256_GCM,…]`).join(', '),
    seen: bad.map((f) => (f.leaf ? `${f.name} is in plain text` : `no ${f.name}`)).join(', '),
    host: run.profile.roles.build,
    evidence: [file.evidence],
  });
}

export async function claimSymlinkIntoSecrets(run: RunContext, path: string): Promise<void> {
  const host = run.pool.role('live');
  const { symlink, mountPoint } = run.profile.secrets;
  const r = await host.succeed([
    'sh',
    '-c',
    'p=$1; if [ -L "$p" ]; then echo "link $(readlink "$p")"; elif [ -e "$p" ]; then echo "plain $(stat -c %F "$p")"; else echo "absent"; fi; echo "real $(readlink -f "$p")"; if [ -f "$p" ]; then echo resolves; else echo dangling; fi',
    'link-check',
    path,
  ]);
  const kv = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]),
  );
  const target = kv.link;
  const real = kv.real ?? '';
  run.recorder.fact(
    `live.${path}`,
    { symlinkTo: target ?? null, realPath: real, kind: kv.plain ?? (kv.absent !== undefined ? 'absent' : 'symlink'), resolves: 'resolves' in kv },
    host.name,
  );
  const into = (p: string) => p.startsWith(`${symlink}/`) || p.startsWith(`${mountPoint}/`);
  claimThat(target !== undefined && into(target) && 'resolves' in kv && real.startsWith(`${mountPoint}/`), {
    claim: `on the live host, ${path} is a symlink into ${symlink}`,
    expected: `a symlink to ${symlink}/<secret>, resolving to a file under ${mountPoint}`,
    seen:
      target === undefined
        ? kv.plain
          ? `a ${kv.plain}, not a symlink`
          : 'no such file'
        : `a symlink to ${target} (${'resolves' in kv ? `resolves to ${real}` : 'dangling'})`,
    host: host.name,
    evidence: [r.evidence],
  });
}

interface CertDigest {
  sha256?: string;
  fingerprint?: string;
  notBefore?: string;
  notAfter?: string;
  error?: string;
  evidence: string;
}

/** sha256 of the bytes, then the leaf's SHA-256 fingerprint and dates, from a PEM on stdin. */
function certDigestPipeline(openssl: (...a: string[]) => string): string {
  return `{ c=$(cat; echo x); c=\${c%x}; [ -n "$c" ] || { echo 'no certificate in the input' >&2; exit 3; }; printf %s "$c" | sha256sum | cut -d' ' -f1; printf %s "$c" | ${openssl('x509', '-noout', '-fingerprint', '-sha256', '-startdate', '-enddate')}; }`;
}

function parseCertDigest(out: string, evidence: string, ok: boolean, stderr: string): CertDigest {
  if (!ok) return { error: stderr.trim().split('\n').slice(0, 2).join(' | ') || 'failed', evidence };
  const lines = out.trim().split('\n');
  const date = (k: string) => {
    const v = lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
    return v ? new Date(v).toISOString() : undefined;
  };
  return {
    sha256: /^[0-9a-f]{64}$/.test(lines[0] ?? '') ? lines[0] : undefined,
    fingerprint: normalizeFingerprint(lines.find((l) => /Fingerprint=/i.test(l)) ?? ''),
    notBefore: date('notBefore'),
    notAfter: date('notAfter'),
    evidence,
  };
}

/** The cert as the live host has it on disk. */
export function diskCert(run: RunContext): Promise<CertDigest> {
  return run.once('disk-cert', async () => {
    const sops = run.sops();
    const host = run.pool.role('live');
    await sops.opensslReadyOn(host);
    const r = await host.run([
      'bash',
      '-c',
      `set -o pipefail; cat ${shellQuote([run.profile.tls.fullchain])} | ${certDigestPipeline((...a) => sops.openssl(...a))}`,
    ]);
    return parseCertDigest(r.stdout, r.evidence, r.ok, r.stderr);
  });
}

/** The cert decrypted from git, on the host that holds a key; only digests come back. */
export function gitCert(run: RunContext): Promise<CertDigest> {
  return run.once('git-cert', async () => {
    const file = await gitSecretsFile(run);
    const sops = run.sops();
    await Promise.all([sops.ready(), sops.opensslReadyOn(sops.host)]);
    const r = await sops.digest(
      file.text,
      'wildcard_cert',
      certDigestPipeline((...a) => sops.openssl(...a)),
    );
    return parseCertDigest(r.stdout, r.evidence, r.ok, r.stderr);
  });
}

/** The leaf served on 443 for the dashboard name, read from the runner through the profile's address. */
export function servedFromRunner(run: RunContext): Promise<(ServedChain & { evidence: string }) | { error: string; evidence: string }> {
  return run.once('served-runner', async () => {
    const { tls, domain, timeouts } = run.profile;
    const servername = tls.dashboard ?? domain;
    const ca = tls.caBundle === 'system' ? undefined : readFileSync(tls.caBundle.file, 'utf8');
    const t0 = Date.now();
    try {
      const chain = await readServedChain({ address: tls.connect.address, port: tls.connect.port, servername, ca, timeoutMs: timeouts.connect });
      const evidence = run.recorder.probe(
        'runner',
        ['tls', `${tls.connect.address}:${tls.connect.port}`, `--servername=${servername}`],
        Date.now() - t0,
        JSON.stringify(chain, null, 2),
      );
      return Object.assign(chain, { evidence });
    } catch (e) {
      if (!(e instanceof TlsConnectError)) throw e;
      const evidence = run.recorder.probe(
        'runner',
        ['tls', `${tls.connect.address}:${tls.connect.port}`, `--servername=${servername}`],
        Date.now() - t0,
        '',
        e.message,
      );
      return { error: e.message, evidence };
    }
  });
}

/** The leaf served on the live host's own 127.0.0.1:443, read there with openssl s_client. */
export function servedOnHost(run: RunContext, host: Host = run.pool.role('live')): Promise<{ fingerprint?: string; error?: string; evidence: string }> {
  return run.once(`served-host ${host.name}`, async () => {
    const sops = run.sops();
    const name = run.profile.tls.dashboard ?? run.profile.domain;
    await sops.opensslReadyOn(host);
    const r = await host.run([
      'bash',
      '-c',
      `set -o pipefail; ${sops.openssl('s_client', '-connect', '127.0.0.1:443', '-servername', name)} </dev/null 2>/dev/null | ${sops.openssl('x509', '-noout', '-fingerprint', '-sha256')}`,
    ]);
    return r.ok
      ? { fingerprint: normalizeFingerprint(r.stdout), evidence: r.evidence }
      : { error: `nothing served on 127.0.0.1:443 (exit ${r.exitCode})`, evidence: r.evidence };
  });
}

export async function claimOneCertificate(run: RunContext): Promise<void> {
  const live = run.profile.roles.live;
  const disk = await diskCert(run);
  const runner = await servedFromRunner(run);
  const onHost = await servedOnHost(run);
  const git = await gitCert(run);
  const served = 'fingerprint256' in runner ? runner.fingerprint256 : undefined;
  run.recorder.fact('cert.git', { sha256: git.sha256, fingerprint: git.fingerprint, error: git.error }, run.decryptHost.name);
  run.recorder.fact('cert.disk', { sha256: disk.sha256, fingerprint: disk.fingerprint, path: run.profile.tls.fullchain, error: disk.error }, live);
  run.recorder.fact(
    'cert.servedToRunner',
    { fingerprint: served, via: `${run.profile.tls.connect.address}:${run.profile.tls.connect.port}`, error: 'error' in runner ? runner.error : undefined },
    'runner',
  );
  run.recorder.fact('cert.servedOnHost', { fingerprint: onHost.fingerprint, via: '127.0.0.1:443', error: onHost.error }, live);
  const seen = [
    `git ${git.fingerprint ?? `(${git.error})`} sha256 ${git.sha256 ?? '-'}`,
    `disk ${disk.fingerprint ?? `(${disk.error})`} sha256 ${disk.sha256 ?? '-'}`,
    `served to the runner ${served ?? `(${'error' in runner ? runner.error : '?'})`}`,
    `served on ${live}'s 127.0.0.1 ${onHost.fingerprint ?? `(${onHost.error})`}`,
  ].join('; ');
  const fps = [git.fingerprint, disk.fingerprint, served, onHost.fingerprint];
  claimThat(fps.every((f) => f && f === git.fingerprint) && !!git.sha256 && git.sha256 === disk.sha256, {
    claim: 'the cert decrypted from git, the cert on disk and the leaf served on 443 are one certificate',
    expected: 'one SHA-256 fingerprint in all four places, and the git and disk files byte-identical',
    seen,
    host: [...new Set([run.decryptHost.name, live, 'the runner'])].join(', '),
    evidence: [git.evidence, disk.evidence, runner.evidence, onHost.evidence],
  });
}

export async function claimChainVerifies(run: RunContext): Promise<void> {
  const served = await servedFromRunner(run);
  const ca = run.profile.tls.caBundle === 'system' ? 'the system CA store' : run.profile.tls.caBundle.file;
  const name = run.profile.tls.dashboard ?? run.profile.domain;
  if ('fingerprint256' in served)
    run.recorder.fact('cert.chain', { chain: served.chain, verified: served.verified, verifyError: served.verifyError, ca }, 'runner');
  claimThat('fingerprint256' in served && served.verified, {
    claim: `the chain served for ${name} verifies against ${ca}`,
    expected: `a chain from the leaf for ${name} to a CA in ${ca}, valid now`,
    seen: 'fingerprint256' in served ? `${served.verifyError} (leaf ${served.subject}, issuer ${served.issuer})` : served.error,
    host: 'runner',
    evidence: [served.evidence],
  });
}

export async function claimKeyMatchesCert(run: RunContext): Promise<void> {
  const host = run.pool.role('live');
  const sops = run.sops();
  const { fullchain, privkey } = run.profile.tls;
  await sops.opensslReadyOn(host);
  const r = await host.run([
    'bash',
    '-c',
    `set -o pipefail; ${sops.openssl('x509', '-in', fullchain, '-noout', '-pubkey')} | sha256sum | cut -d' ' -f1; ${sops.openssl('pkey', '-in', privkey, '-pubout')} | sha256sum | cut -d' ' -f1`,
  ]);
  const [cert, key] = r.stdout.trim().split('\n');
  run.recorder.fact('cert.publicKeys', { cert: cert ?? null, key: key ?? null }, host.name);
  claimThat(r.ok && !!cert && cert === key, {
    claim: `the private key on disk matches the cert on disk`,
    expected: `the public key of ${privkey} equal to the public key in ${fullchain}`,
    seen: r.ok
      ? `cert public key sha256 ${cert}, private key's ${key}`
      : `could not read them: ${r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.exitCode}`}`,
    host: host.name,
    evidence: [r.evidence],
  });
}

export async function claimValidFor(run: RunContext): Promise<void> {
  const disk = await diskCert(run);
  const min = run.profile.tls.minDays;
  const now = Date.now();
  const daysLeft = disk.notAfter ? Math.floor((Date.parse(disk.notAfter) - now) / DAY_MS) : undefined;
  run.recorder.fact('cert.validity', { notBefore: disk.notBefore, notAfter: disk.notAfter, daysLeft, minDays: min }, run.profile.roles.live);
  if (daysLeft !== undefined && daysLeft >= min && daysLeft < 30) {
    run.recorder.fact('warning', `the cert expires in ${daysLeft} days (${disk.notAfter}); renew it`);
    run.recorder.progress(`warning: the wildcard cert expires in ${daysLeft} days (${disk.notAfter})`);
  }
  const started = disk.notBefore !== undefined && Date.parse(disk.notBefore) <= now;
  claimThat(daysLeft !== undefined && daysLeft >= min && started, {
    claim: `the cert is valid now and for at least ${min} more days`,
    expected: `notBefore <= now and notAfter >= now + ${min} days`,
    seen: disk.error ? `no cert: ${disk.error}` : `notBefore ${disk.notBefore}, notAfter ${disk.notAfter} (${daysLeft} days left)`,
    host: run.profile.roles.live,
    evidence: [disk.evidence],
  });
}
