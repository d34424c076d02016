import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

// The lab's PKI: a CA, and wildcard certificates for *.<domain> and <domain> signed by it.

export interface Issued {
  /** The leaf followed by the CA, as Let's Encrypt serves fullchain.pem. */
  fullchain: string;
  privkey: string;
}

export async function makeCa(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await execa(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/O=cc-ci lab/CN=cc-ci lab CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { cwd: dir },
  );
  return join(dir, 'ca.pem');
}

/** A wildcard cert signed by the lab CA in caDir; valid for `days` from now, or between two dates. */
export async function issueWildcard(caDir: string, domain: string, validity: { days: number } | { start: Date; end: Date }): Promise<Issued> {
  const dir = mkdtempSync(join(caDir, 'issue-'));
  try {
    const o = (...args: string[]) => execa('openssl', args, { cwd: dir });
    await o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=*.${domain}`, '-keyout', 'privkey.pem', '-out', 'req.csr');
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=DNS:*.${domain},DNS:${domain}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    const ca = join(caDir, 'ca.pem');
    const caKey = join(caDir, 'ca.key');
    if ('days' in validity) {
      await o(
        'x509',
        '-req',
        '-in',
        'req.csr',
        '-CA',
        ca,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-CAserial',
        'ca.srl',
        '-days',
        String(validity.days),
        '-extfile',
        'ext.cnf',
        '-out',
        'cert.pem',
      );
    } else {
      // `openssl ca` is the one that can set both dates (x509 -req can only count days from now).
      const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
      writeFileSync(
        join(dir, 'ca.cnf'),
        `[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = .\ncertificate = ${ca}\nprivate_key = ${caKey}\nserial = serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n`,
      );
      await o(
        'ca',
        '-batch',
        '-notext',
        '-config',
        'ca.cnf',
        '-startdate',
        stamp(validity.start),
        '-enddate',
        stamp(validity.end),
        '-in',
        'req.csr',
        '-extfile',
        'ext.cnf',
        '-out',
        'cert.pem',
      );
    }
    return {
      fullchain: readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(ca, 'utf8'),
      privkey: readFileSync(join(dir, 'privkey.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
