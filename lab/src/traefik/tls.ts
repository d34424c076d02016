// The Traefik stand-in's certificates: loading a pair as Go's tls.X509KeyPair checks it, Traefik's
// generated default certificate, and the choice by SNI.
import { execFile } from 'node:child_process';
import { type KeyObject, X509Certificate, createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

export interface LoadedCert {
  domains: string[];
  fingerprint: string;
  notAfter: string;
  ctx: tls.SecureContext;
}

/** Traefik's matchDomain: exact, or a wildcard standing for exactly one leftmost label. */
export function matchDomain(name: string, certDomain: string): boolean {
  if (name === certDomain) return true;
  const labels = name.split('.');
  for (let i = 0; i < labels.length; i++) {
    labels[i] = '*';
    if (labels.join('.') === certDomain) return true;
  }
  return false;
}

/** The context of the certificate for `servername`: of those matching, the greatest domain wins (as in Traefik); undefined: none. */
export function certificateFor(certs: LoadedCert[], servername: string): tls.SecureContext | undefined {
  const matched = new Map<string, tls.SecureContext>();
  if (servername) for (const c of certs) for (const d of c.domains) if (matchDomain(servername, d)) matched.set(d, c.ctx);
  return matched.size === 0 ? undefined : matched.get([...matched.keys()].sort().at(-1)!);
}

/** Go's tls.X509KeyPair checks, then a Node secure context serving every certificate in the file. */
export function loadCertificate(certPem: string, keyPem: string): LoadedCert {
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error('tls: failed to find any PEM data in certificate input');
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(keyPem)) throw new Error('tls: failed to find any PEM data in key input');
  const leaf = new X509Certificate(blocks[0]!);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new Error('tls: failed to parse private key');
  }
  if (!leaf.checkPrivateKey(key)) throw new Error('tls: private key does not match public key');
  const ctx = tls.createSecureContext({ cert: blocks.join('\n'), key: keyPem });
  // Traefik's store key: the CN, then DNS names, then IP addresses, lower-cased.
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
  const sans = (leaf.subjectAltName ?? '').split(', ');
  const pick = (prefix: string) =>
    sans
      .filter((s) => s.startsWith(prefix))
      .map((s) => s.slice(prefix.length))
      .filter((n) => n !== cn);
  const domains = [...(cn ? [cn] : []), ...pick('DNS:'), ...pick('IP Address:')].map((d) => d.toLowerCase());
  return { domains, fingerprint: leaf.fingerprint256, notAfter: leaf.validTo, ctx };
}

const execFileP = promisify(execFile);

/** Traefik's generated default certificate: CN "TRAEFIK DEFAULT CERT", SAN <random>.<random>.traefik.default. */
export async function generateDefaultCertificate(): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'traefik-default-cert-'));
  try {
    const z = createHash('sha256').update(randomBytes(100)).digest('hex');
    writeFileSync(join(dir, 'req.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n');
    await execFileP('openssl', [
      'req',
      '-config',
      join(dir, 'req.cnf'),
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '365',
      '-subj',
      '/CN=TRAEFIK DEFAULT CERT',
      '-addext',
      `subjectAltName=DNS:${z.slice(0, 32)}.${z.slice(32)}.traefik.default`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
