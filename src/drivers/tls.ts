import { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';

// TLS as a client sees it, from the runner: connect to an address with a server name (SNI),
// the name resolved as `curl --resolve NAME:PORT:ADDRESS` would, and read what is served.

export interface ServedChain {
  address: string;
  port: number;
  servername: string;
  /** SHA-256 of the leaf's DER, as openssl prints it (AB:CD:...). */
  fingerprint256: string;
  subject: string;
  subjectAltName: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** Certificates served, leaf first. */
  chain: { subject: string; issuer: string; fingerprint256: string }[];
  /** Whether the chain verifies against the CA bundle and matches the name. */
  verified: boolean;
  verifyError?: string;
  protocol: string | null;
}

export class TlsConnectError extends Error {
  override name = 'TlsConnectError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export function readServedChain(opts: {
  address: string;
  port: number;
  servername: string;
  /** PEM CA bundle; undefined means the system store. */
  ca?: string;
  timeoutMs: number;
}): Promise<ServedChain> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: opts.address,
      port: opts.port,
      servername: opts.servername,
      ca: opts.ca,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TlsConnectError(`no TLS handshake with ${opts.address}:${opts.port} within ${opts.timeoutMs / 1000}s`, 'ETIMEDOUT'));
    }, opts.timeoutMs);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new TlsConnectError(`TLS connection to ${opts.address}:${opts.port} (SNI ${opts.servername}) failed: ${e.code ?? ''} ${e.message}`.trim(), e.code),
      );
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const leaf = socket.getPeerCertificate(true);
      const chain: ServedChain['chain'] = [];
      const seen = new Set<string>();
      for (
        let c: PeerCertificate | undefined = leaf;
        c?.fingerprint256 && !seen.has(c.fingerprint256);
        c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate
      ) {
        seen.add(c.fingerprint256);
        chain.push({ subject: dn(c.subject), issuer: dn(c.issuer), fingerprint256: c.fingerprint256 });
      }
      let verifyError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      if (!verifyError && leaf.raw) {
        const x509 = new X509Certificate(leaf.raw);
        if (!x509.checkHost(opts.servername))
          verifyError = `ERR_TLS_CERT_ALTNAME_INVALID: ${opts.servername} is not in ${leaf.subjectaltname ?? 'the certificate'}`;
      }
      resolve({
        address: opts.address,
        port: opts.port,
        servername: opts.servername,
        fingerprint256: leaf.fingerprint256,
        subject: dn(leaf.subject),
        subjectAltName: leaf.subjectaltname ?? '',
        issuer: dn(leaf.issuer),
        validFrom: new Date(leaf.valid_from).toISOString(),
        validTo: new Date(leaf.valid_to).toISOString(),
        chain,
        verified: socket.authorized && !verifyError,
        verifyError,
        protocol: socket.getProtocol(),
      });
      socket.end();
    });
  });
}

function dn(d: object | undefined): string {
  if (!d) return '';
  return Object.entries(d as Record<string, string | string[] | undefined>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

/** openssl's `-fingerprint -sha256` prints "sha256 Fingerprint=AB:CD:..."; this keeps the hex. */
export function normalizeFingerprint(text: string): string {
  const m = /([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31})/.exec(text);
  return m ? m[1]!.toUpperCase() : text.trim();
}
