import { normalizeFingerprint } from './tls';
import { type CommandResult, type Host, shellQuote } from './host';
import type { SopsOnHost } from './sops';

// Certificates on a host, read with the profile's openssl: digests and fingerprints come back,
// never a key. The shell pipelines stay here; paths and names are quoted into them.

export interface CertDigest {
  sha256?: string;
  fingerprint?: string;
  notBefore?: string;
  notAfter?: string;
  error?: string;
  evidence: string;
}

export class X509 {
  constructor(private readonly sops: SopsOnHost) {}

  /** sha256 of the bytes, then the leaf's SHA-256 fingerprint and dates, from a PEM on stdin. */
  digestPipeline(): string {
    const openssl = (...a: string[]) => this.sops.openssl(...a);
    return `{ c=$(cat; echo x); c=\${c%x}; [ -n "$c" ] || { echo 'no certificate in the input' >&2; exit 3; }; printf %s "$c" | sha256sum | cut -d' ' -f1; printf %s "$c" | ${openssl('x509', '-noout', '-fingerprint', '-sha256', '-startdate', '-enddate')}; }`;
  }

  /** The digest of a PEM file on `host`. */
  async digestOfFile(host: Host, path: string): Promise<CertDigest> {
    await this.sops.opensslReadyOn(host);
    const r = await host.run(['bash', '-c', `set -o pipefail; cat ${shellQuote([path])} | ${this.digestPipeline()}`]);
    return parseCertDigest(r);
  }

  /** The digest of a cert held encrypted in a sops file, decrypted on the host that holds a key. */
  async digestOfSecret(encrypted: string, key: string): Promise<CertDigest> {
    await Promise.all([this.sops.ready(), this.sops.opensslReadyOn(this.sops.host)]);
    return parseCertDigest(await this.sops.digest(encrypted, key, this.digestPipeline()));
  }

  /** The SHA-256 fingerprint of the leaf `host` serves on its own 127.0.0.1:443 for `servername`. */
  async servedOn(host: Host, servername: string): Promise<{ fingerprint?: string; error?: string; evidence: string }> {
    await this.sops.opensslReadyOn(host);
    const openssl = (...a: string[]) => this.sops.openssl(...a);
    const r = await host.run([
      'bash',
      '-c',
      `set -o pipefail; ${openssl('s_client', '-connect', '127.0.0.1:443', '-servername', servername)} </dev/null 2>/dev/null | ${openssl('x509', '-noout', '-fingerprint', '-sha256')}`,
    ]);
    return r.ok
      ? { fingerprint: normalizeFingerprint(r.stdout), evidence: r.evidence }
      : { error: `nothing served on 127.0.0.1:443 (exit ${r.exitCode})`, evidence: r.evidence };
  }

  /** sha256 of the public key in a cert and of the one a private key derives, both on `host`. */
  async publicKeyDigests(host: Host, certPath: string, keyPath: string): Promise<{ cert?: string; key?: string; result: CommandResult }> {
    await this.sops.opensslReadyOn(host);
    const openssl = (...a: string[]) => this.sops.openssl(...a);
    const result = await host.run([
      'bash',
      '-c',
      `set -o pipefail; ${openssl('x509', '-in', certPath, '-noout', '-pubkey')} | sha256sum | cut -d' ' -f1; ${openssl('pkey', '-in', keyPath, '-pubout')} | sha256sum | cut -d' ' -f1`,
    ]);
    const [cert, key] = result.stdout.trim().split('\n');
    return { cert, key, result };
  }
}

export function parseCertDigest(r: { stdout: string; stderr: string; ok: boolean; evidence: string }): CertDigest {
  const { evidence } = r;
  if (!r.ok) return { error: r.stderr.trim().split('\n').slice(0, 2).join(' | ') || 'failed', evidence };
  const lines = r.stdout.trim().split('\n');
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
