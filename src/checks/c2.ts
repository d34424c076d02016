import { Files } from '../drivers/files';
import { readFileSync } from 'node:fs';
import { claimThat } from '../claim';
import type { Host } from '../drivers/host';
import { type CertDigest, X509 } from '../drivers/x509';
import { readServedChain, TlsConnectError, type ServedChain } from '../drivers/tls';
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
  const link = await new Files(host).linkInfo(path);
  const { target, real, resolves } = link;
  run.recorder.fact(
    `live.${path}`,
    { symlinkTo: target ?? null, realPath: real, kind: link.kind === 'link' ? 'symlink' : link.kind === 'plain' ? link.type : 'absent', resolves },
    host.name,
  );
  const into = (p: string) => p.startsWith(`${symlink}/`) || p.startsWith(`${mountPoint}/`);
  claimThat(target !== undefined && into(target) && resolves && real.startsWith(`${mountPoint}/`), {
    claim: `on the live host, ${path} is a symlink into ${symlink}`,
    expected: `a symlink to ${symlink}/<secret>, resolving to a file under ${mountPoint}`,
    seen:
      target === undefined
        ? link.type
          ? `a ${link.type}, not a symlink`
          : 'no such file'
        : `a symlink to ${target} (${resolves ? `resolves to ${real}` : 'dangling'})`,
    host: host.name,
    evidence: [link.result.evidence],
  });
}

/** The cert as the live host has it on disk. */
export function diskCert(run: RunContext): Promise<CertDigest> {
  return run.once('disk-cert', () => new X509(run.sops()).digestOfFile(run.pool.role('live'), run.profile.tls.fullchain));
}

/** The cert decrypted from git, on the host that holds a key; only digests come back. */
export function gitCert(run: RunContext): Promise<CertDigest> {
  return run.once('git-cert', async () => new X509(run.sops()).digestOfSecret((await gitSecretsFile(run)).text, 'wildcard_cert'));
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
    return new X509(run.sops()).servedOn(host, run.profile.tls.dashboard ?? run.profile.domain);
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
  const { fullchain, privkey } = run.profile.tls;
  const { cert, key, result: r } = await new X509(run.sops()).publicKeyDigests(host, fullchain, privkey);
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
